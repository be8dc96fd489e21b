#!/usr/bin/env bash
# Rebuild the three-mood sentiment adapter (run 15, kept in data/adapters/, not yet the
# default) from the data in this checkout:
#   1. run 9, the two-mood review adapter (`moodchat train-sentiment` with its defaults:
#      ../shared/data/train reviews and the everyday messages, prompt a1-adapter);
#   2. run 15, warm-started from it: the personal corpus's training split (data/personal,
#      written for moodchat) twice, with 1,000 / 400 / 1,500 review rows per label replayed,
#      prompt a2-adapter (positive / negative / neutral), lr 2e-4.
# Both stages are seeded. Measured times are in docs/evaluation.md (run 9: 63 min, run 15:
# about 100 min on 2 cores with AMX; each far longer on a CPU without native bfloat16).
# OMP_WAIT_POLICY=PASSIVE speeds torch's small ops on 2 cores (training only, never serving).
# Usage: bash scripts/rebuild_sentiment.sh [OUT_DIR]
set -euo pipefail
OUT="${1:-.}"
mkdir -p "$OUT"
export OMP_WAIT_POLICY=PASSIVE
moodchat train-sentiment --out "$OUT/sentiment-run9.gguf"
moodchat train-sentiment --out "$OUT/sentiment-three-run15.gguf" \
  --prompt a2-adapter --corpus data/personal --corpus-repeat 2 \
  --init-adapter "$OUT/sentiment-run9.gguf" \
  --rows zh_waimai.csv=1000 --rows zh_shopping.csv=400 --rows en_sst2.csv=1500 \
  --everyday-repeat 0 --lr 2e-4
