"""Writing an evaluation: a Markdown comparison, a JSON record and a reliability diagram.

Contract: ``write_reports(results, out_dir, meta)`` writes ``eval.md``, ``eval.json`` and
``reliability.png`` into ``out_dir`` (created if needed) and returns their paths.
``results_from_dict`` reads an
``eval.json`` back, so several runs can be merged into one table. ``markdown_table`` puts
prompt versions side by side, one row per version and, per
dataset, accuracy, macro-F1, ECE and latency; the best accuracy per dataset is bold.
The PNG is drawn with matplotlib's Agg backend (no display needed): one panel per dataset,
one reliability curve per prompt version. Nothing here touches a model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from moodchat.evaluation.sentiment import Bin, DatasetResult, PromptResult, report_dict


def results_from_dict(record: dict) -> list[PromptResult]:
    """Rebuild results from an ``eval.json`` record (to merge runs; no predictions)."""
    out = []
    for p in record["prompts"]:
        sets = [
            DatasetResult(**(d | {"bins": [Bin(**b) for b in d.get("bins", [])]}))
            for d in p["datasets"]
        ]
        out.append(PromptResult(**(p | {"datasets": sets})))
    return out


def _datasets(results: Sequence[PromptResult]) -> list[str]:
    return [d.dataset for d in results[0].datasets] if results else []


def markdown_table(results: Sequence[PromptResult]) -> str:
    """One row per prompt version; per dataset: acc, macro-F1, ECE, ms/item."""
    names = _datasets(results)
    best = {name: max(r.datasets[i].accuracy for r in results) for i, name in enumerate(names)}
    head = ["prompt", "prefix tok"]
    for name in names:
        head += [f"{name} acc", f"{name} F1", f"{name} ECE", f"{name} ms/item"]
    if len(names) > 1:
        head.append("mean acc")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        cells = [f"`{r.prompt}`", str(r.prefix_tokens)]
        for d in r.datasets:
            acc = f"{d.accuracy:.2%}"
            cells += [
                f"**{acc}**" if d.accuracy == best[d.dataset] else acc,
                f"{d.macro_f1:.4f}",
                f"{d.ece:.4f}",
                f"{d.latency_ms['mean']:.1f}",
            ]
        if len(names) > 1:
            cells.append(f"{sum(d.accuracy for d in r.datasets) / len(r.datasets):.2%}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _confusions(results: Sequence[PromptResult]) -> list[str]:
    lines = ["## Confusion matrices (rows: gold, columns: predicted)", ""]
    for r in results:
        for d in r.datasets:
            m = d.confusion
            lines += [
                f"**{r.prompt}** on {d.dataset} (n={d.n}, truncated inputs: {d.truncated}, "
                f"mean request tokens: {d.mean_request_tokens})",
                "",
                "| gold \\ pred | " + " | ".join(m) + " |",
                "|---" * (len(m) + 1) + "|",
                *(f"| {g} | " + " | ".join(str(m[g][p]) for p in m) + " |" for g in m),
                "",
            ]
    return lines


def markdown_report(results: Sequence[PromptResult], meta: dict | None = None) -> str:
    """The whole Markdown report: settings, comparison table, versions, confusions."""
    meta = meta or {}
    lines = ["# Sentiment evaluation", ""]
    lines += [f"- {k}: `{v}`" for k, v in meta.items()]
    lines += ["", "## Prompt versions side by side", "", markdown_table(results), ""]
    lines += ["ECE: expected calibration error of the confidence (10 equal-width bins).", ""]
    lines += ["## Versions", ""]
    lines += [f"- `{r.prompt}`: {r.description}" for r in results]
    lines += ["", *_confusions(results)]
    return "\n".join(lines) + "\n"


def reliability_png(results: Sequence[PromptResult], path: Path) -> Path:
    """Reliability diagram: accuracy against confidence per bin, per dataset and version."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = _datasets(results)
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(5.5 * max(1, len(names)), 5))
    axes = list(axes) if len(names) > 1 else [axes]
    for ax, (i, name) in zip(axes, enumerate(names)):
        ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect calibration")
        for r in results:
            d = r.datasets[i]
            pts = [(b.confidence, b.accuracy) for b in d.bins if b.count]
            if pts:
                xs, ys = zip(*pts)
                ax.plot(xs, ys, marker="o", label=f"{r.prompt} (ECE {d.ece:.3f})")
        ax.set(title=name, xlabel="confidence", ylabel="accuracy", xlim=(0.45, 1.0), ylim=(0, 1))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_reports(
    results: Sequence[PromptResult], out_dir: Path, meta: dict | None = None
) -> dict[str, Path]:
    """Write eval.md, eval.json and reliability.png; return their paths by kind."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "markdown": out_dir / "eval.md",
        "json": out_dir / "eval.json",
        "png": out_dir / "reliability.png",
    }
    paths["markdown"].write_text(markdown_report(results, meta), encoding="utf-8")
    paths["json"].write_text(
        json.dumps(report_dict(results, meta), ensure_ascii=False, indent=2), encoding="utf-8"
    )
    reliability_png(results, paths["png"])
    return paths
