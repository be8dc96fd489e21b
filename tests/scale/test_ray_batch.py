"""``moodchat analyze --ray`` on a real local Ray cluster with the real default model.

A few hundred rows (two CSV files, a few bad rows) over 2 actors x 1 thread give exactly
the labels of the single-process path, in input order, and the bad rows are reported.
"""

from __future__ import annotations

import csv
import json

import pytest
import ray

from moodchat.evaluation.tabular import analyze_rows, read_rows
from moodchat.scale.batch import RayBatchOptions, analyze_on_ray, input_files


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, dev_data):
    root = tmp_path_factory.mktemp("ray-in")
    with open(dev_data / "dev_sst2_train_1000.csv", encoding="utf-8") as f:
        en = [r["text"] for r in csv.DictReader(f)][:150]
    with open(dev_data / "dev_waimai_1000.csv", encoding="utf-8") as f:
        zh = [r["text"] for r in csv.DictReader(f)][:150]
    en[7], zh[3] = "", "   "
    with open(root / "a.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text"])
        w.writerows([t] for t in en)
    with open(root / "b.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text"])
        w.writerows([t] for t in zh)
    return root


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_two_actors_give_the_single_process_labels_in_order(
    inputs, cluster, assistant, default_model, tmp_path
):
    from moodchat.assistant import ModelOptions

    files = input_files([str(inputs)])
    out = tmp_path / "out"
    options = RayBatchOptions(output=str(out), fmt="jsonl", actors=2, threads=1,
                              model=ModelOptions(model=default_model))  # fmt: skip
    summary = analyze_on_ray(files, options)
    assert summary["rows"] == 300
    rows = [r for f in files for r in read_rows(f, "text")]
    single = analyze_rows(assistant, rows)
    got = [json.loads(x) for p in sorted(out.glob("*.json*")) for x in p.read_text().splitlines()]
    assert len(got) == 300
    assert [g["text"] for g in got] == [r["text"] for r in single]  # input order
    assert [g["label"] for g in got] == [r.get("label") for r in single]
    bad = {(b["file"].rsplit("/", 1)[-1], b["row"]) for b in summary["bad_rows"]}
    assert bad == {("a.csv", 8), ("b.csv", 4)}
    assert sum(summary["labels"].values()) == 298
