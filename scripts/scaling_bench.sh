#!/usr/bin/env bash
# The figures of docs/scaling.md, measured on this machine (run it on an otherwise idle one):
# 1. batch sentiment over the 2,000 dev rows of tests/data: one process (2 threads) against
#    Ray Data with 2 actors x 1 thread, and a 20-row Ray run for the fixed start-up cost;
# 2. scripts/loadtest.py against the plain server (2 threads), Ray Serve with 1 replica x 2
#    threads, and Ray Serve with 2 replicas x 1 thread.
# Usage: bash scripts/scaling_bench.sh [OUT_DIR] [all|batch|load] (default: /tmp/moodchat-scaling,
# all); needs the ray extra. DURATION (default 120) sets each load test's length in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/moodchat-scaling}
part=${2:-all}
duration=${DURATION:-120}
mkdir -p "$out"
rows="$out/rows.csv"
{ echo text; tail -q -n +2 tests/data/dev_sst2_train_1000.csv tests/data/dev_waimai_1000.csv \
  | python -c "import csv,sys; w=csv.writer(sys.stdout); [w.writerow([r[0]]) for r in csv.reader(sys.stdin)]"; } > "$rows"
head -21 "$rows" > "$out/rows20.csv"

timed() {  # name command...: wall seconds into $out/NAME.s
  local name=$1; shift
  local start; start=$(date +%s.%N)
  "$@" > "$out/$name.log" 2>&1
  python -c "print(round($(date +%s.%N) - $start, 1))" > "$out/$name.s"
  echo "$name: $(cat "$out/$name.s") s"
}
if [[ $part == all || $part == batch ]]; then
timed batch-1proc moodchat analyze -i "$rows" -t 2 -o "$out/single.jsonl"
rm -rf "$out/ray2" "$out/ray20"
timed batch-ray-2x1 moodchat analyze -i "$rows" --ray --actors 2 --threads-per-actor 1 -o "$out/ray2"
timed batch-ray-startup moodchat analyze -i "$out/rows20.csv" --ray --actors 2 --threads-per-actor 1 -o "$out/ray20"
fi

load() {  # name serve-args...
  local name=$1; shift
  local args=()
  for a in "$@"; do args+=("--serve-arg=$a"); done
  python scripts/loadtest.py --spawn "${args[@]}" --duration "$duration" \
    --rss-match ServeReplica:moodchat:MoodchatModel --json "$out/load-$name.json" \
    > "$out/load-$name.log" 2>&1 || echo "$name: loadtest exit $?"
  echo "load $name: $(python -c "import json; d=json.load(open('$out/load-$name.json')); print({k: d[k] for k in ('counts', 'sentiment_load_s', 'chat_first_token_s', 'server_errors_5xx', 'server_peak_rss_mib')}, d.get('matched_peak_rss_mib'))")"
}
if [[ $part == all || $part == load ]]; then
load plain-2t --threads=2
load ray-1x2 --ray --replicas=1 --threads=2
load ray-2x1 --ray --replicas=2 --threads=1
fi
