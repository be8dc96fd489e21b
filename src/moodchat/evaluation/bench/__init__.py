"""``moodchat bench``: moodchat against its baselines, each in a fresh process, one run.

Contract:
- ``run_bench(config, baselines)`` starts one child process per stack (moodchat first,
  then the chosen baselines of ``STACKS``, by default ``BASELINES``), so every stack's
  memory phases start from a bare interpreter and never include another stack's
  allocations. Each child records RSS before importing anything of the stack under test
  and prints one ``BENCH-RESULT`` JSON line; its progress goes to stderr.
- A child that exits non-zero (a crash by a signal included), prints no result or runs past
  ``timeout_s`` raises ``BenchChildError`` naming the stack and its exit status; the run
  stops there, so a report never has a silent hole where a baseline crashed.
- ``STACKS`` says in one line what each stack is; reports print it beside the numbers.
- The result is a dict: ``machine`` facts, ``config``, ``stacks`` (name -> measurements),
  ``descriptions`` (name -> its ``STACKS`` line) and ``ratios`` (baseline name -> figure
  -> moodchat / baseline).
- Tables, targets, Markdown and the PNG chart live in ``moodchat.evaluation.bench.report``.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import replace

from moodchat.errors import MoodchatError
from moodchat.evaluation.bench.workload import BenchConfig

CHILDREN = {
    "moodchat": "moodchat.evaluation.bench.child_moodchat",
    "prompt-only": "moodchat.evaluation.bench.child_moodchat",
    "naive-llama": "moodchat.evaluation.bench.child_naive",
    "naive-llama-highlevel": "moodchat.evaluation.bench.child_llama",
    "fp32-transformers": "moodchat.evaluation.bench.child_fp32",
}
STACKS = {
    "moodchat": "moodchat's Assistant: cached role prefixes, sentiment from label-word logits",
    "prompt-only": "moodchat with both adapters off (prompt-only sentiment and chat)",
    "naive-llama": "llama.cpp via moodchat's LlamaEngine with no prefix cache: the whole prompt "
    "decoded for every request, sentiment by generating <= 5 tokens and parsing the label",
    "naive-llama-highlevel": "the same naive workload on llama-cpp-python's high-level "
    "llama_cpp.Llama (its defaults: weight repacking, n_ubatch 512)",
    "fp32-transformers": "transformers + torch, the GGUF de-quantised to FP32, "
    "model.generate for every request",
}
ALL_BASELINES = tuple(name for name in CHILDREN if name != "moodchat")
BASELINES = ("prompt-only", "naive-llama", "fp32-transformers")
# Stacks that are moodchat with other options: the sentiment role without its adapter.
STACK_OPTIONS = {"prompt-only": {"sentiment_adapter": "none", "chat_adapter": "none"}}

_BOOT = (
    "import os, sys\n"
    "try:\n"
    "    with open('/proc/self/statm') as f:\n"
    "        rss = int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')\n"
    "except OSError:\n"
    "    rss = 0\n"
    "import importlib\n"
    "child = importlib.import_module(sys.argv[1])\n"
    "from moodchat.evaluation.bench.workload import BenchConfig\n"
    "child.run(BenchConfig.from_json(sys.argv[2]), rss)\n"
)


class BenchChildError(MoodchatError):
    """A benchmark child crashed, failed or timed out; its numbers would be missing."""


def exit_description(returncode: int) -> str:
    """``exit status 1`` or ``killed by SIGSEGV (exit status -11)``."""
    if returncode >= 0:
        return f"exit status {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    return f"killed by {name} (exit status {returncode})"


def _failure(name: str, what: str) -> BenchChildError:
    kind = "baseline" if name != "moodchat" else "stack"
    return BenchChildError(
        f"{kind} {name} {what}; its stderr is above. No report was written: a crashed stack "
        f"has no numbers (rerun without it: --baseline <others> or --no-baseline)"
    )


def run_child(name: str, config: BenchConfig, timeout_s: float = 900) -> dict:
    """Run one stack's benchmark in a fresh interpreter and return its measurements.

    Raises ``BenchChildError`` when the child exits non-zero, prints no result or times out.
    """
    config = replace(config, **STACK_OPTIONS.get(name, {}), spawned_at=time.time())
    cmd = [sys.executable, "-c", _BOOT, CHILDREN[name], config.to_json()]
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
    try:
        proc = subprocess.run(
            cmd, stdout=subprocess.PIPE, stderr=None, text=True, timeout=timeout_s, env=env
        )
    except subprocess.TimeoutExpired:
        raise _failure(name, f"ran past {timeout_s:.0f} s and was killed") from None
    if proc.returncode != 0:
        raise _failure(name, f"crashed: {exit_description(proc.returncode)}")
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("BENCH-RESULT "):
            return json.loads(line.removeprefix("BENCH-RESULT "))
    raise _failure(name, "exited with status 0 but printed no BENCH-RESULT line")


def machine() -> dict:
    """Facts about the machine the numbers come from."""
    import psutil

    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "physical_cores": psutil.cpu_count(logical=False),
        "logical_cores": psutil.cpu_count(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in load],
    }


def run_bench(config: BenchConfig, baselines: tuple[str, ...] = BASELINES, progress=None) -> dict:
    """Measure moodchat and the chosen baselines; return everything plus the ratios.

    Raises ``BenchChildError`` at the first stack that crashes (see ``run_child``).
    """
    from moodchat.evaluation.bench.report import ratios

    facts = machine()
    stacks = {}
    for name in ("moodchat", *baselines):
        if progress:
            progress(f"running {name} in a fresh process…")
        stacks[name] = run_child(name, config)
    facts["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return {
        "machine": facts,
        "config": {k: v for k, v in vars(config).items() if k != "spawned_at"},
        "stacks": stacks,
        "descriptions": {name: STACKS[name] for name in stacks},
        "ratios": {b: ratios(stacks["moodchat"], stacks[b]) for b in baselines},
    }
