#!/usr/bin/env bash
# Peak memory and speed of `ratestream rate` as the input grows: constant memory means
# the peak RSS at 10 million lines is that at 100 thousand. CDRs are generated into a
# file first (so generation is not measured), then rated to /dev/null under
# /usr/bin/time -v, once with Node's default heap and once with the old space capped
# at 48 MB: V8 grows its heap lazily when allowed, so only the capped run finishing
# at the same speed shows that memory does not grow with the input.
# Baseline in the same run: `wc -l` over the same file.
#   bench/rate-cli-memory.sh [counts…]   (default: 100000 1000000 10000000)
set -euo pipefail
cd "$(dirname "$0")/.."
counts=("${@:-100000 1000000 10000000}")
npm run build >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for count in ${counts[*]}; do
  npx tsx bench/gen-cdrs.ts --count "$count" >"$work/cdrs.jsonl"
  bytes=$(stat -c %s "$work/cdrs.jsonl")
  base_start=$(date +%s.%N)
  wc -l <"$work/cdrs.jsonl" >/dev/null
  base_s=$(echo "$(date +%s.%N) - $base_start" | bc)
  for heap in default 48; do
    node_options=""
    [[ $heap == default ]] || node_options="--max-old-space-size=$heap"
    NODE_OPTIONS="$node_options" /usr/bin/time -v -o "$work/time.txt" node bin/ratestream.js rate \
      --rates rates/rates.csv --surcharges rates/surcharges.csv --input "$work/cdrs.jsonl" >/dev/null
    rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt")
    secs=$(echo "$wall" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
    printf '{"lines":%d,"input_mb":%d,"old_space_cap_mb":"%s","peak_rss_mb":%d,"wall_s":%s,"lines_per_s":%d,"baseline_wc_s":%.2f}\n' \
      "$count" $((bytes / 1048576)) "$heap" $((rss_kb / 1024)) "$secs" "$(echo "$count / $secs" | bc)" "$base_s"
  done
done
