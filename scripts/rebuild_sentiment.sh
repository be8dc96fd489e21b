#!/usr/bin/env bash
# Rebuild the shipped three-mood sentiment adapter (run 14) from the data in this checkout:
#   1. run 9, the two-mood review adapter (`moodchat train-sentiment` with its defaults:
#      ../shared/data/train reviews and the everyday messages, prompt a1-adapter);
#   2. run 14, warm-started from it: the personal corpus's training split (data/personal,
#      written for moodchat) twice, with 800 / 400 / 1,200 review rows per label replayed,
#      prompt a2-adapter (positive / negative / neutral), lr 2e-4.
# Both stages are seeded. Measured times are in docs/evaluation.md (run 9: 63 min, run 14:
# about 100 min on 2 cores with AMX; each far longer on a CPU without native bfloat16).
# Usage: bash scripts/rebuild_sentiment.sh [OUT_DIR]
set -euo pipefail
OUT="${1:-.}"
mkdir -p "$OUT"
moodchat train-sentiment --out "$OUT/sentiment-run9.gguf"
moodchat train-sentiment --out "$OUT/sentiment-qwen2.5-coder-0.5b-q4km.gguf" \
  --prompt a2-adapter --corpus data/personal --corpus-repeat 2 \
  --init-adapter "$OUT/sentiment-run9.gguf" \
  --rows zh_waimai.csv=800 --rows zh_shopping.csv=400 --rows en_sst2.csv=1200 \
  --everyday-repeat 0 --lr 2e-4
