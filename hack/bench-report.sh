#!/usr/bin/env bash
# One table of issue #14's targets from the last `make bench`, from what its parts saved
# in $BENCH_RESULTS (.testbed-results): the Go benchmarks' output (go-bench.txt: the
# stats scrape), hack/bench.sh's targets (bench-sync.md) and hack/bench-scheduler.sh's
# (bench-scheduler.md). A part that saved nothing shows as a row that is not met.
set -uo pipefail
cd "$(dirname "$0")/.."
dir=${BENCH_RESULTS:-.testbed-results}

# rows LABEL FILE prints the rows of FILE's first targets table ("| target ..."),
# prefixed with LABEL.
rows() {
  if [ ! -s "$2" ]; then
    echo "| $1 | (no result: $2 missing) | - | - | **no** |"
    return
  fi
  awk -v l="$1" '
    /^\| target/ { if (!done) t = 1; next }
    t && /^\|---/ { next }
    t && /^\|/ { print "| " l " " $0; next }
    t { t = 0; done = 1 }' "$2"
}

echo "| part | target | measured | goal | met |"
echo "|---|---|---:|---|---|"
ms=$(awk '/^BenchmarkStatsScrape1000LowerNodes/ { for (i = 2; i < NF; i++) if ($(i+1) == "cached-ms/scrape") print $i }' "$dir/go-bench.txt" 2>/dev/null | tail -1)
if [ -n "$ms" ]; then
  met=$(awk -v v="$ms" 'BEGIN { print (v < 1000 ? "yes" : "**no**") }')
  echo "| stats (Go benchmark) | /stats/summary + /metrics/resource scrape, 1,000 lower nodes (ms) | $ms | < 1000 | $met |"
else
  echo "| stats (Go benchmark) | (no result: $dir/go-bench.txt lacks BenchmarkStatsScrape1000LowerNodes) | - | - | **no** |"
fi
rows "virtual node (hack/bench.sh)" "$dir/bench-sync.md"
rows "scheduler (hack/bench-scheduler.sh)" "$dir/bench-scheduler.md"
