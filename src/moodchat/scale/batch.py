"""``moodchat analyze --ray``: batch sentiment over a Ray cluster with Ray Data.

Contract:
- ``input_files(patterns)`` expands files, folders and globs into the CSV / JSONL /
  Parquet files to read, sorted, and refuses anything else with an ``InputError``.
- ``label_texts(bot, texts)`` is one actor's work on one batch: ``(labels, confidences,
  errors)``, a row whose text is not usable (empty, not a string, too long, undecodable)
  carrying its error and no label, the others read in one ``analyze_many`` call. It is the
  single-process path's check (``moodchat.evaluation.tabular.usable_texts``), so both
  give the same labels.
- ``analyze_on_ray(files, options)`` connects to the cluster (``address``: ``"auto"``, a
  ``ray://`` or ``host:port`` address, or ``None`` for a local one), reads the files (one
  format per run) with Ray Data's own readers (keeping the source file of each row), maps
  batches over an actor pool (``ActorPoolStrategy``) of ``options.actors`` actors, each
  one ``Assistant`` with ``options.threads`` threads and that many CPUs reserved, keeps
  input order
  (``preserve_order``), writes the results with Ray Data's writer for ``options.fmt`` into
  the folder ``options.output``, and returns a summary: rows, labels per mood, bad rows
  (``[{file, row, error}]``, row numbers 1-based within their file).
"""

from __future__ import annotations

import glob
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from moodchat.errors import InputError
from moodchat.evaluation.tabular import usable_texts

READERS = {".csv": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}
WRITERS = {"csv": "write_csv", "jsonl": "write_json", "parquet": "write_parquet"}
MAX_BAD_ROWS = 1000
READ_ARGS = {"num_cpus": 0}


@dataclass(frozen=True)
class RayBatchOptions:
    """How a batch runs on Ray; ``model`` (a ``ModelOptions``) is what each actor loads."""

    column: str = "text"
    output: str = "moodchat-out"
    fmt: str = "jsonl"
    address: str | None = None
    actors: int = 2
    threads: int = 1
    batch_size: int = 16
    model: object = None


def input_files(patterns: Sequence[str]) -> list[Path]:
    """The readable files named by ``patterns`` (files, folders, globs), sorted."""
    found: list[Path] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            found += [p for p in path.rglob("*") if p.suffix.lower() in READERS]
        elif path.is_file():
            found.append(path)
        else:
            matches = [Path(p) for p in glob.glob(pattern, recursive=True)]
            if not matches:
                raise InputError(f"no such file, folder or match: {pattern}")
            found += [p for p in matches if p.is_file()]
    bad = [p for p in found if p.suffix.lower() not in READERS]
    if bad:
        raise InputError(f"not a CSV, JSONL or Parquet file: {bad[0]}")
    if not found:
        raise InputError("no CSV, JSONL or Parquet files in the inputs")
    return sorted(set(found))


def label_texts(bot, texts: Sequence[object]) -> tuple[list, list, list]:
    """(labels, confidences, errors) for one batch, in order; bad texts get an error."""
    labels: list = [None] * len(texts)
    confs: list = [None] * len(texts)
    valid, bad = usable_texts(texts)
    errors: list = [bad.get(i) for i in range(len(texts))]
    if valid:
        for (i, _), s in zip(valid, bot.analyze_many([t for _, t in valid])):
            labels[i], confs[i] = s.label, float(s.confidence)
    return labels, confs, errors


class Analyst:
    """One Ray actor: one loaded ``Assistant`` labelling batches (pandas frames)."""

    def __init__(self, options: RayBatchOptions) -> None:
        from moodchat.assistant import Assistant, ModelOptions

        model = options.model if options.model is not None else ModelOptions()
        self.bot = Assistant.load(replace(model, threads=options.threads))
        self.column = options.column

    def __call__(self, batch):
        texts = [None if _missing(t) else t for t in batch[self.column].tolist()]
        batch["label"], batch["confidence"], batch["error"] = label_texts(self.bot, texts)
        return batch


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value)  # NaN from pandas


def read_dataset(files: Sequence[Path], column: str):
    """One Ray dataset of every file's rows, each with its ``path``, in file order.

    One reader call over all the files: Ray Data keeps their order then, while a union of
    datasets does not, even with ``preserve_order`` (measured), so a run takes one format.
    """
    import ray.data

    kinds = sorted({READERS[p.suffix.lower()] for p in files})
    if len(kinds) > 1:
        raise InputError(f"give files of one format per run (got {' and '.join(kinds)})")
    reader = getattr(ray.data, f"read_{kinds[0]}")
    kwargs = {"lines": True} if kinds[0] == "json" else {}
    # reading is light and must never wait for the CPUs the model actors hold (2 actors
    # x 1 thread on 2 cores would otherwise leave the readers no CPU: a hang)
    ds = reader([str(p) for p in files], include_paths=True, ray_remote_args=READ_ARGS, **kwargs)
    if column not in ds.columns():
        raise InputError(f"no column {column!r} in the inputs (columns: {ds.columns()})")
    return ds


def bad_rows(ds, limit: int = MAX_BAD_ROWS) -> list[dict]:
    """``[{file, row, error}]`` of a materialized result, rows numbered within each file."""
    seen: Counter = Counter()
    out: list[dict] = []
    for batch in ds.select_columns(["path", "error"]).iter_batches(batch_format="pandas"):
        for path, error in zip(batch["path"], batch["error"]):
            seen[path] += 1
            if isinstance(error, str) and len(out) < limit:
                out.append({"file": path, "row": seen[path], "error": error})
    return out


def analyze_on_ray(files: Sequence[Path], options: RayBatchOptions) -> dict:
    """Label every row of ``files`` on a Ray cluster; write them; return the summary."""
    import ray
    import ray.data

    ray.init(address=options.address, ignore_reinit_error=True, log_to_driver=False)
    ray.data.DataContext.get_current().execution_options.preserve_order = True
    ds = read_dataset(files, options.column)
    labelled = ds.map_batches(
        Analyst, fn_constructor_args=(options,), batch_size=options.batch_size,
        batch_format="pandas", num_cpus=options.threads,
        compute=ray.data.ActorPoolStrategy(size=options.actors),
    ).materialize()  # fmt: skip
    getattr(labelled, WRITERS[options.fmt])(options.output)
    counts = Counter(r["label"] for r in labelled.select_columns(["label"]).iter_rows())
    return {
        "rows": labelled.count(),
        "labels": {k: v for k, v in counts.items() if k is not None},
        "bad_rows": bad_rows(labelled),
        "output": options.output,
        "actors": options.actors,
        "threads_per_actor": options.threads,
    }
