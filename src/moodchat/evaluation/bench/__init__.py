"""``moodchat bench``: moodchat against two baselines, each in a fresh process, one run.

Contract:
- ``run_bench(config, baselines)`` starts one child process per stack (moodchat first,
  then ``prompt-only`` — moodchat with the sentiment adapter off —, ``naive-llama`` and
  ``fp32-transformers`` if asked), so every stack's memory phases
  start from a bare interpreter and never include another stack's allocations. Each child
  records RSS before importing anything of the stack under test and prints one
  ``BENCH-RESULT`` JSON line; its progress goes to stderr. A child that fails or runs past
  ``timeout_s`` is reported with an ``error`` and does not stop the others.
- The result is a dict: ``machine`` facts, ``config``, ``stacks`` (name -> measurements)
  and ``ratios`` (baseline name -> figure -> moodchat / baseline).
- Tables, targets, Markdown and the PNG chart live in ``moodchat.evaluation.bench.report``.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import replace

from moodchat.evaluation.bench.workload import BenchConfig

CHILDREN = {
    "moodchat": "moodchat.evaluation.bench.child_moodchat",
    "prompt-only": "moodchat.evaluation.bench.child_moodchat",
    "naive-llama": "moodchat.evaluation.bench.child_llama",
    "fp32-transformers": "moodchat.evaluation.bench.child_fp32",
}
BASELINES = ("prompt-only", "naive-llama", "fp32-transformers")
# Stacks that are moodchat with other options: the sentiment role without its adapter.
STACK_OPTIONS = {"prompt-only": {"sentiment_adapter": "none"}}

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


def run_child(name: str, config: BenchConfig, timeout_s: float = 900) -> dict:
    """Run one stack's benchmark in a fresh interpreter and return its measurements."""
    config = replace(config, **STACK_OPTIONS.get(name, {}), spawned_at=time.time())
    cmd = [sys.executable, "-c", _BOOT, CHILDREN[name], config.to_json()]
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
    try:
        proc = subprocess.run(
            cmd, stdout=subprocess.PIPE, stderr=None, text=True, timeout=timeout_s, env=env
        )
    except subprocess.TimeoutExpired:
        return {"name": name, "error": f"timed out after {timeout_s:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("BENCH-RESULT "):
            return json.loads(line.removeprefix("BENCH-RESULT "))
    return {"name": name, "error": f"exit status {proc.returncode}, no result"}


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
    """Measure moodchat and the chosen baselines; return everything plus the ratios."""
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
        "ratios": {b: ratios(stacks["moodchat"], stacks[b]) for b in baselines},
    }
