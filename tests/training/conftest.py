"""A tiny labelled training folder, written by the tests themselves (no shared data)."""

from __future__ import annotations

import csv

import pytest

ZH = [
    ("很好吃，还会再点", 1),
    ("送得太慢了，菜都凉了", 0),
    ("包装精美，服务贴心", 1),
    ("太咸了，难吃", 0),
]
EN = [
    ("a warm and funny film", 1),
    ("a dull, lifeless mess", 0),
    ("I loved every minute", 1),
    ("the plot makes no sense", 0),
]


@pytest.fixture(scope="session")
def tiny_train_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("train-data")
    for name, rows in (("zh_small.csv", ZH), ("en_small.csv", EN)):
        with (out / name).open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows(rows * 3)
    return out
