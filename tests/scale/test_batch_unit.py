"""Ray batch analysis, the parts without Ray: input expansion and one actor's batch logic."""

from __future__ import annotations

import pytest

from fakes import FakeEngine
from moodchat.assistant import Assistant
from moodchat.errors import InputError
from moodchat.evaluation.tabular import analyze_rows
from moodchat.scale.batch import input_files, label_texts


def test_label_texts_matches_the_single_process_path_and_reports_bad_rows():
    bot = Assistant(FakeEngine())
    texts = ["so happy today", "", None, "awful day", 42, "x" * 100_000, "happy again"]
    labels, confs, errors = label_texts(bot, texts)
    rows = analyze_rows(bot, [{"row": i + 1, "text": t} for i, t in enumerate(texts)])
    assert labels == [r.get("label") for r in rows]
    assert errors == [r.get("error") for r in rows]
    assert [e is None for e in errors] == [True, False, False, True, False, False, True]
    assert all(c is None or 0 <= c <= 1 for c in confs)


def test_input_files_expand_folders_and_globs_and_refuse_the_rest(tmp_path):
    (tmp_path / "a").mkdir()
    for name in ("a/1.csv", "a/2.jsonl", "b.parquet", "notes.txt"):
        (tmp_path / name).write_text("text\nhi\n")
    got = input_files([str(tmp_path / "a"), str(tmp_path / "*.parquet")])
    assert [p.name for p in got] == ["1.csv", "2.jsonl", "b.parquet"]
    with pytest.raises(InputError, match="not a CSV"):
        input_files([str(tmp_path / "notes.txt")])
    with pytest.raises(InputError, match="no such file"):
        input_files([str(tmp_path / "missing-*.csv")])


def test_the_serving_code_never_imports_ray():
    import subprocess
    import sys

    code = (
        "import sys, moodchat, moodchat.server, moodchat.cli, moodchat.assistant\n"
        "from moodchat.server import create_app\n"
        "assert 'ray' not in sys.modules and 'moodchat.scale' not in sys.modules, "
        "sorted(m for m in sys.modules if m.startswith(('ray', 'moodchat.scale')))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_one_format_per_run(tmp_path):
    from moodchat.scale.batch import read_dataset

    for name in ("a.csv", "b.jsonl"):
        (tmp_path / name).write_text('text\n"hi"\n')
    with pytest.raises(InputError, match="one format per run"):
        read_dataset(input_files([str(tmp_path)]), "text")


def test_ray_needs_inputs_and_an_output_folder():
    from click.testing import CliRunner

    from moodchat.cli import main

    result = CliRunner().invoke(main, ["analyze", "--ray", "--no-pull"])
    assert result.exit_code == 2 and "--ray needs --input" in result.output
