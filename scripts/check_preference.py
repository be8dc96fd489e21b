"""Check the preference pairs written for moodchat (``moodchat.training.preference``).

For every ``data/preference/batches/<slice>.jsonl`` beside its
``data/preference/slices/<slice>.jsonl``, reports: moments with no rejected reply or
more than one, unknown pair ids, bad keys, kinds or batch names, a rejected reply in
another language than the user message, one that is a list, says "as an AI", is too short
or too long (outside 0.5-2x the chosen reply's length, min 8 characters) or is the chosen
one, and a slice under 60% ``opposite_valence``; then the counts per kind. Exits 1 when
anything is wrong. Usage:

    python scripts/check_preference.py [SLICE_NAME ...]
"""

from __future__ import annotations

import argparse
import sys

from moodchat.training.preference import (
    check_slice,
    own_errors,
    own_summary,
    preference_dir,
    slice_names,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*")
    args = parser.parse_args()
    directory = preference_dir()
    failed = False
    for name in args.names or slice_names(directory):
        errors, kinds = check_slice(directory, name)
        total = sum(kinds.values())
        share = kinds["opposite_valence"] / max(1, total)
        print(f"{name}: {total} pairs, {dict(kinds)}, opposite_valence {share:.0%}")
        for e in errors[:40]:
            print("  " + e)
        failed |= bool(errors)
    own = own_errors(directory)
    print(f"own replies judged: {own_summary(directory)}")
    for e in own[:40]:
        print("  " + e)
    failed |= bool(own)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
