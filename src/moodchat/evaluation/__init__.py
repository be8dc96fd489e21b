"""Measuring moodchat: sentiment evaluation runs and metrics, reports, tables, the benchmark.

``sentiment`` scores prompt versions (and the adapter) on labelled files: accuracy,
macro-F1, confusion, calibration, latency; ``report`` writes Markdown, JSON and the
reliability chart; ``tabular`` reads and writes CSV/JSONL rows for ``moodchat analyze``;
``bench`` runs moodchat and its baselines in fresh processes. ``data/`` holds the chat
evaluation scripts written for moodchat.
"""
