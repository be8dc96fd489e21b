"""How much sentiment the model's own representations hold: a linear-probe ceiling.

Contract: for each labelled file, every text goes through the sentiment role's prompt on the
transformers backend (the same weights as the default GGUF, dequantized), and the hidden
states of every ``--step``-th layer are kept: at the last position (where the label word is
read) and averaged over the text's tokens. A logistic regression trained *on the file's own
labels* (5-fold cross-validation) then says how well a linear read-out of that layer can
separate the two labels. It is an upper bound for anything that reads the label from this
model's representations with a linear map: prompt wording, answer words and calibration all
do, so none of them can beat it by more than noise. Prints a Markdown table.

Needs the ``hf`` extra and scikit-learn (``pip install -e ".[hf,analysis]"``). About 6 min per
1000 short texts on 2 cores.

    python scripts/probe_ceiling.py ../shared/data/dev_waimai_1000.csv \
        ../shared/data/dev_sst2_train_1000.csv --prompt v4-fewshot
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from moodchat.engine.hf import TransformersEngine
from moodchat.evaluation.sentiment import load_dataset
from moodchat.prompts import sentiment_prompt
from moodchat.roles.sentiment import SentimentRole
from moodchat.template import ChatML
from moodchat.weights.models import default_model_path


def features(role: SentimentRole, engine: TransformersEngine, text: str) -> tuple:
    """(last-position states, text-mean states, prompt P(positive)) for every layer."""
    variant = role._variant(text)
    tokens, _ = role._request_tokens(text, variant)
    kv, _ = engine._prefix_kv(variant.prefix)
    with torch.inference_mode():
        out = engine._base(
            input_ids=torch.tensor([tokens]),
            use_cache=True,
            **{engine._cache_kw: engine._cache(kv)},
            output_hidden_states=True,
        )
    states = torch.stack(out.hidden_states)[:, 0]  # layers x tokens x width
    n_text = len(tokens) - len(role.template.reply_start()) - len(variant.answer_tokens)
    logits = engine._logits(out.last_hidden_state[0, -1])
    p_pos = role._label_probs(variant, logits, variant.log_bias, 1.0)[0]
    return states[:, -1].numpy(), states[:, :n_text].mean(1).numpy(), p_pos


def probe_accuracy(x: np.ndarray, y: np.ndarray, c: float) -> float:
    """Mean 5-fold cross-validated accuracy of a standardised logistic regression."""
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=3000))
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(cross_val_score(clf, x, y, cv=folds).mean())


def report(name: str, last, mean, p_pos, y, step: int, c: float) -> None:
    """Print one file's table: prompt accuracy, then probe accuracy per layer."""
    print(f"\n### {name} ({len(y)} rows)\n")
    print(f"prompt (label-word logits) accuracy: {np.mean((p_pos > 0.5) == y):.1%}\n")
    print("| layer | probe, last position | probe, mean over text |\n|---|---|---|")
    for layer in range(0, last.shape[1], step):
        a = probe_accuracy(last[:, layer], y, c)
        b = probe_accuracy(mean[:, layer], y, c)
        print(f"| {layer} | {a:.1%} | {b:.1%} |", flush=True)


def main() -> None:
    """Parse arguments, extract features per file, print the tables."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--model", default=None, help="GGUF file or HF model (default model)")
    ap.add_argument("--prompt", default=None, help="sentiment prompt version")
    ap.add_argument("--text-column", default="text")
    ap.add_argument("--label-column", default="label")
    ap.add_argument("--limit", type=int, default=None, help="evenly spaced N rows per file")
    ap.add_argument("--step", type=int, default=2, help="probe every STEP-th layer")
    ap.add_argument("--c", type=float, default=0.003, help="inverse L2 strength")
    args = ap.parse_args()
    engine = TransformersEngine(str(args.model or default_model_path()), dtype="float32")
    role = SentimentRole(engine, ChatML(engine), sentiment_prompt(args.prompt))
    for path in args.files:
        data = load_dataset(path, args.text_column, args.label_column, args.limit)
        feats = [features(role, engine, text) for text in data.texts]
        last, mean, p_pos = (np.array(col) for col in zip(*feats))
        y = np.array([gold == "positive" for gold in data.gold], dtype=int)
        report(path.name, last, mean, p_pos, y, args.step, args.c)


if __name__ == "__main__":
    main()
