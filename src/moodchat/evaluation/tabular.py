"""Reading and writing tables of texts for batch sentiment (CSV and JSONL).

Contract:
- ``read_rows(path, column, label_column)`` returns one dict per data row, in file order,
  with ``row`` (1-based), ``text`` and optionally ``gold``; a row it cannot use carries an
  ``error`` instead of failing the whole file (bad JSON, missing column, undecodable bytes).
- ``usable_texts(texts)`` validates texts (``moodchat.inputs.clean_text``): the usable ones
  cleaned, an error for each other one; ``analyze_rows`` fills ``label`` and
  ``confidence`` (or ``error``) with it, batching the valid texts through
  ``Assistant.analyze_many`` and keeping input order.
- ``write_rows`` writes ``row, text, label, confidence[, gold][, error]`` as CSV or JSONL.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from moodchat.errors import InputError
from moodchat.inputs import clean_text

LABEL_ALIASES = {
    "1": "positive",
    "0": "negative",
    "positive": "positive",
    "negative": "negative",
    "pos": "positive",
    "neg": "negative",
    "neutral": "neutral",
    "neu": "neutral",
}
FIELDS = ["row", "text", "label", "confidence", "gold", "error"]


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8-sig", errors="surrogateescape")


def read_rows(path: Path, column: str, label_column: str | None = None) -> list[dict]:
    """Rows of a CSV (by header) or JSONL (by key) file."""
    text = _decode(path.read_bytes())
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        return _jsonl_rows(text, column, label_column)
    return _csv_rows(text, column, label_column)


def _row(n: int, record: dict, column: str, label_column: str | None) -> dict:
    if column not in record:
        return {"row": n, "text": None, "error": f"no column {column!r}"}
    row = {"row": n, "text": record[column]}
    if label_column:
        gold = LABEL_ALIASES.get(str(record.get(label_column, "")).strip().lower())
        row["gold"] = gold
    return row


def _csv_rows(text: str, column: str, label_column: str | None) -> list[dict]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or column not in reader.fieldnames:
        raise InputError(f"CSV has no column {column!r} (columns: {reader.fieldnames})")
    return [_row(i, rec, column, label_column) for i, rec in enumerate(reader, start=1)]


def _jsonl_rows(text: str, column: str, label_column: str | None) -> list[dict]:
    rows = []
    for i, line in enumerate((ln for ln in text.splitlines() if ln.strip()), start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            rows.append({"row": i, "text": None, "error": f"invalid JSON: {err.msg}"})
            continue
        if not isinstance(record, dict):
            rows.append({"row": i, "text": None, "error": "line is not a JSON object"})
            continue
        rows.append(_row(i, record, column, label_column))
    return rows


def usable_texts(texts: Sequence[object]) -> tuple[list[tuple[int, str]], dict[int, str]]:
    """``([(index, cleaned text)], {index: error})``: which texts can be read, and why not."""
    usable: list[tuple[int, str]] = []
    errors: dict[int, str] = {}
    for i, text in enumerate(texts):
        try:
            usable.append((i, clean_text(text)))
        except InputError as err:
            errors[i] = str(err)
    return usable, errors


def analyze_rows(
    bot, rows: list[dict], *, batch_size: int = 16, progress: bool = False
) -> list[dict]:
    """Label every row; invalid texts get an ``error`` and do not stop the others."""
    from rich.progress import Progress

    out = [dict(r) for r in rows]
    todo = [i for i, r in enumerate(out) if not r.get("error")]
    usable, errors = usable_texts([out[i]["text"] for i in todo])
    for k, message in errors.items():
        out[todo[k]]["error"] = message
    valid = [(todo[k], text) for k, text in usable]
    with Progress(disable=not progress, console=_stderr_console()) as bar:
        task = bar.add_task("analyzing", total=len(valid))
        for lo in range(0, len(valid), batch_size):
            chunk = valid[lo : lo + batch_size]
            for (i, _), s in zip(chunk, bot.analyze_many([t for _, t in chunk])):
                out[i].update(label=s.label, confidence=s.confidence)
            bar.advance(task, len(chunk))
    return out


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)


def accuracy(rows: Iterable[dict]) -> tuple[float, int]:
    """Share of rows whose label equals their gold label, over rows that have both."""
    pairs = [(r.get("label"), r.get("gold")) for r in rows if r.get("gold") and r.get("label")]
    if not pairs:
        return 0.0, 0
    return sum(a == b for a, b in pairs) / len(pairs), len(pairs)


def _clean_for_output(r: dict) -> dict:
    rec = {k: r.get(k) for k in FIELDS if r.get(k) is not None}
    if isinstance(rec.get("text"), str):
        rec["text"] = rec["text"].encode("utf-8", "replace").decode("utf-8")
    return rec


def write_rows(rows: list[dict], fmt: str, path: Path | None) -> None:
    """Write rows as ``jsonl`` or ``csv`` to ``path`` (stdout when None)."""
    handle = path.open("w", encoding="utf-8", newline="") if path else sys.stdout
    try:
        if fmt == "csv":
            writer = csv.DictWriter(handle, fieldnames=FIELDS, extrasaction="ignore")
            writer.writeheader()
            for r in rows:
                writer.writerow(_clean_for_output(r))
        else:
            for r in rows:
                handle.write(json.dumps(_clean_for_output(r), ensure_ascii=False) + "\n")
    finally:
        if path:
            handle.close()
