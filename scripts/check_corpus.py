"""Check the personal-conversation corpus (data/personal/) or some of its batch files.

    python scripts/check_corpus.py                 # the whole corpus, with its acceptance bounds
    python scripts/check_corpus.py FILE.jsonl ...  # just these files (writers, before handing in)
    python scripts/check_corpus.py --assign        # place new rows in the held-out / training split
    python scripts/check_corpus.py --markdown      # the taxonomy with counts, for the README
    python scripts/check_corpus.py --drop-duplicates  # drop the later row of each near-duplicate

Prints every error and near-duplicate pair, then the counts; exits 1 when anything fails.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

try:
    from moodchat.training import corpus
except ImportError:  # not installed yet: the checker module needs only the standard library
    import importlib.util

    _path = Path(__file__).resolve().parents[1] / "src/moodchat/training/corpus.py"
    _spec = importlib.util.spec_from_file_location("moodchat_corpus", _path)
    corpus = importlib.util.module_from_spec(_spec)
    sys.modules["moodchat_corpus"] = corpus
    _spec.loader.exec_module(corpus)


def drop_later_duplicates(directory: Path) -> None:
    """Remove, file by file, the later conversation of every near-duplicate pair."""
    files = sorted((directory / "batches").glob("*.jsonl"))
    rows = corpus.read_rows(files)
    report = corpus.check_corpus(rows, corpus.load_situations(directory), directory)
    drop = {later.split(": ", 1)[0] for _, later, _ in report.duplicates}
    for f in files:
        lines = f.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [ln for ln in lines if not ln.strip() or json.loads(ln).get("id") not in drop]
        if len(kept) != len(lines):
            f.write_text("".join(kept), encoding="utf-8")
    print(f"dropped {len(drop)} conversations: {', '.join(sorted(drop))}")


def print_markdown(rows: list[dict], situations: dict[str, str]) -> None:
    """Conversations and user-turn labels per situation (zh / en), as a Markdown table."""
    convs, labels = Counter(), {s: Counter() for s in situations}
    for r in rows:
        convs[(r.get("situation"), r.get("lang"))] += 1
        labels[r.get("situation")].update(m["label"] for m in corpus.user_turns(r))
    print("| group | situation | zh | en | user turns +/-/0 |")
    print("|---|---|---|---|---|")
    for sit, group in situations.items():
        lab = labels[sit]
        print(
            f"| {group} | {sit} | {convs[(sit, 'zh')]} | {convs[(sit, 'en')]} | "
            f"{lab['positive']}/{lab['negative']}/{lab['neutral']} |"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument(
        "--assign", action="store_true", help="place rows that are in no split yet (10%% held out)"
    )
    parser.add_argument("--markdown", action="store_true", help="print the counts table only")
    parser.add_argument(
        "--drop-duplicates",
        action="store_true",
        help="rewrite the batch files without the later conversation of each near-duplicate pair",
    )
    args = parser.parse_args()
    directory = corpus.corpus_dir()
    rows = corpus.read_rows(args.files) if args.files else corpus.load_corpus(directory)
    if args.drop_duplicates:
        drop_later_duplicates(directory)
        rows = corpus.load_corpus(directory)
    if args.assign:
        corpus.assign_heldout([r for r in rows if "_error" not in r], directory)
    situations = corpus.load_situations(directory)
    report = corpus.check_corpus(rows, situations, directory)
    if args.markdown:
        print_markdown(rows, situations)
        return 0
    for e in report.errors:
        print("ERROR", e)
    for a, b, jac in report.duplicates:
        print(f"NEAR-DUPLICATE ({jac}):\n   {a}\n   {b}")
    c = report.counts
    turns = sum(c["labels"].values())
    print(
        f"conversations {c['size']['conversations']}, user turns {turns}, "
        f"multi-turn {c['size']['multi_turn']}, language switches {c['size']['language_switch']}"
    )
    strata = c["heldout_strata"]
    print(
        f"held-out strata: {len(strata)}, rows per stratum {min(strata.values(), default=0)}"
        f"-{max(strata.values(), default=0)}"
    )
    for key in ("labels", "languages", "hard", "splits"):
        total = sum(c[key].values()) if key != "hard" else turns
        print(
            key + ":",
            ", ".join(f"{k} {v} ({v / max(total, 1):.1%})" for k, v in c[key].most_common()),
        )
    print(
        f"situations ({len(c['situations'])}):",
        ", ".join(f"{k} {v}" for k, v in sorted(c["situations"].items())),
    )
    failures = [] if args.files else report.failures()
    for f in failures:
        print("BELOW BOUND", f)
    return 1 if report.errors or report.duplicates or failures else 0


if __name__ == "__main__":
    sys.exit(main())
