"""What every adapter's training run shares: the base model, its identity, the layer cache.

Contract:
- ``load_base(config)`` loads ``config.model`` (a GGUF file, dequantized, or an HF folder)
  through transformers with ``config.threads`` and returns (engine, ChatML template).
- ``base_weights_file(model)`` is the file that identifies the base (the GGUF itself, or an
  HF folder's first weights file); ``base_identity(model)`` its sha256, size and fingerprint,
  as adapter metadata records them.
- ``cached_lower(config, split, examples, report)`` is the frozen lower layers' output per
  example. With ``config.cache_dir`` set and ``store`` true it is kept there under a key of
  the base's fingerprint, the split and every token sequence, and a later run with the same
  key loads it instead (runs that change only the epochs, the learning rate or the rank then
  skip the costliest stage).
- ``data_records(counts, written, unit)`` is the provenance list of the data files: each
  public file with its sha256 and ``unit`` count, then the file written for this project,
  marked as such.
- ``fit_lora(config, split, examples, batch_loss, report, init_tensors)`` caches the frozen
  layers (``cached_lower``), attaches LoRA to the top layers (set from ``init_tensors``, a
  trained adapter's matrices, when given) and trains it with
  ``config``'s epochs, batch size, learning rate, seed and clipping, reporting the stage
  "training"; it returns (PEFT model, epoch losses).
- ``init_record(path)`` is the provenance of the adapter a run started from (its file,
  sha256, data and config), recorded among the data.
- ``write_trained_adapter(config, role, ...)`` writes the GGUF adapter with the metadata
  every role records: base identity, prompt, K, rank, temperature and a provenance of the
  hyper-parameters (run-only settings left out), data files, epoch losses, wall time and
  torch version, plus the role's own ``measured`` fields; it returns that metadata.
- ``Report`` is the progress callback every stage calls: (stage, done, total, detail).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import torch

from moodchat.training.export import load_lora_tensors, lora_tensors, write_adapter
from moodchat.training.layers import SplitModel
from moodchat.training.lora import BatchLoss, attach_lora, cache_lower, train
from moodchat.weights.adapters import base_fingerprint, read_adapter
from moodchat.weights.pull import sha256_file

Report = Callable[[str, int, int, str], None]  # (stage, done, total, detail)
CACHE_STAGE = "caching frozen layers"


def load_base(config):
    """(TransformersEngine, ChatML) for ``config.model`` with ``config.threads``."""
    from moodchat.engine.hf import TransformersEngine
    from moodchat.template import ChatML

    engine = TransformersEngine(config.model, threads=config.threads, warm_up=False)
    return engine, ChatML(engine)


def base_weights_file(model: str) -> Path:
    """The file that identifies the base: the GGUF itself, or an HF directory's weights."""
    path = Path(model)
    if path.is_dir():
        files = sorted(path.glob("*.safetensors")) or sorted(path.glob("*.bin"))
        if not files:
            raise FileNotFoundError(f"no weights file in {path}")
        return files[0]
    return path


def base_identity(model: str) -> dict:
    """The ``base_sha256`` / ``base_size`` / ``base_fingerprint`` adapter metadata."""
    weights = base_weights_file(model)
    return {
        "base_sha256": sha256_file(weights),
        "base_size": weights.stat().st_size,
        "base_fingerprint": base_fingerprint(weights),
    }


def corpus_record(directory: Path, count: int, unit: str = "user_turns") -> dict:
    """Provenance of the personal corpus: its batch files with sha256, what was used."""
    files = sorted((Path(directory) / "batches").glob("*.jsonl"))
    return {
        "corpus": "data/personal (written for moodchat), training split",
        "files": {f.name: sha256_file(f) for f in files},
        unit: count,
        "written_for_moodchat": True,
    }


def data_records(counts: dict[Path, int], written: tuple[Path, str, int], unit: str) -> list:
    """Provenance of the data files: public ones, then the one written for moodchat."""
    records = [{"file": f.name, "sha256": sha256_file(f), unit: n} for f, n in counts.items()]
    path, name, n = written
    records.append(
        {"file": name, "sha256": sha256_file(path), unit: n, "written_for_this_project": True}
    )
    return records


def _compute(split: SplitModel, examples: Sequence, report: Report, stage: str) -> list:
    done = [0]

    def tick(n: int) -> None:
        done[0] += n
        report(stage, done[0], len(examples), "")

    return cache_lower(split, examples, on_batch=tick)


def cached_lower(
    config,
    split: SplitModel,
    examples: Sequence,
    report: Report,
    *,
    stage: str = CACHE_STAGE,
    store: bool = True,
) -> list[torch.Tensor]:
    """The frozen lower layers' output per example, reused from ``config.cache_dir``."""
    if not (store and config.cache_dir):
        return _compute(split, examples, report, stage)
    key = hashlib.sha256(base_fingerprint(base_weights_file(config.model)).encode())
    key.update(f"{split.split}:{split.n_layers}:{split.compute}".encode())
    for e in examples:
        key.update(repr(e.tokens).encode())
    path = Path(config.cache_dir) / f"lower-{key.hexdigest()[:16]}.pt"
    if path.is_file():
        report(stage, len(examples), len(examples), "from cache")
        return torch.load(path)
    cached = _compute(split, examples, report, stage)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(cached, path.with_suffix(".part"))
    path.with_suffix(".part").replace(path)
    return cached


def fit_lora(
    config,
    split: SplitModel,
    examples: Sequence,
    batch_loss: BatchLoss,
    report: Report,
    init_tensors: dict | None = None,
):
    """(PEFT model, epoch losses): LoRA on ``split``'s top layers trained on ``examples``,
    starting from ``init_tensors`` (a trained adapter's matrices) when given."""
    skip = getattr(config, "skip_steps", 0)
    planned = max(0, len(examples) * config.epochs - skip * config.batch_size)
    if config.max_steps:
        planned = min(planned, config.max_steps * config.batch_size)
    # nothing to learn (a preference stage alone): the lower layers' pass would be wasted
    cached = cached_lower(config, split, examples, report) if planned else []
    peft_model = attach_lora(
        split.model, split.upper_indices, config.rank, config.alpha, config.seed
    )
    if init_tensors is not None:
        load_lora_tensors(peft_model, init_tensors, split.n_layers)
    done = [0]

    def step_tick(n: int, running: float) -> None:
        done[0] += n
        report("training", done[0], planned, f"loss {running:.4f}")

    losses = train(
        split, peft_model, examples, cached, batch_loss,
        epochs=config.epochs, batch_size=config.batch_size, lr=config.lr,
        seed=config.seed, on_step=step_tick, max_grad_norm=config.max_grad_norm,
        max_steps=config.max_steps, skip_steps=skip,
    )  # fmt: skip
    return peft_model, losses


def init_record(path: str) -> dict:
    """Provenance of the adapter a run started from: file, sha256, its own data files."""
    info = read_adapter(path)
    return {
        "init_adapter": Path(path).name,
        "sha256": sha256_file(Path(path)),
        "its_data": info.provenance.get("data", []),
        "its_config": info.provenance.get("config", {}),
    }


RUN_ONLY = ("out", "threads", "cache_dir")  # settings that do not change the adapter


def write_trained_adapter(
    config,
    role: str,
    *,
    prompt_name: str,
    temperature: float,
    peft_model,
    split: SplitModel,
    started: float,
    losses: Sequence[float],
    records: list,
    **measured,
) -> dict:
    """Write ``config.out`` with the role's metadata and provenance; return the metadata."""
    provenance = {
        "config": {k: v for k, v in asdict(config).items() if k not in RUN_ONLY},
        "data": records,
        "epoch_loss": [round(x, 4) for x in losses],
        **measured,
        "train_seconds": round(time.perf_counter() - started, 1),
        "torch": torch.__version__,
    }
    metadata = {
        "role": role,
        **base_identity(config.model),
        "prompt": prompt_name,
        "top_layers": config.top_layers,
        "rank": config.rank,
        "temperature": temperature,
        "provenance": provenance,
    }
    tensors = lora_tensors(peft_model, split.n_layers)
    write_adapter(config.out, tensors, alpha=config.alpha, metadata=metadata)
    return metadata
