#!/usr/bin/env bash
# The end-to-end sync benchmark (make bench): 1,000 pods through a virtual node versus
# the same 1,000 created directly in the lower cluster, alternating, in one run on a
# dedicated test bed (.testbed-bench) whose lower-a nodes have room for them.
# Figures go to .testbed-bench/bench-sync.md; copy them into docs/benchmarks.md.
set -uo pipefail
cd "$(dirname "$0")/.."
export TESTBED_DIR=.testbed-bench LOWER_A_NODES=${LOWER_A_NODES:-3} LOWER_A_CPU=${LOWER_A_CPU:-32} LOWER_A_PODS=${LOWER_A_PODS:-500}
hack/testbed.sh down >/dev/null
hack/testbed.sh up >/dev/null || exit 1
TENSILE_BENCH=1 go test -count=1 -timeout 30m -v -run '^TestBenchSync$' ./test/e2e/ 2>&1 | tee "$TESTBED_DIR/logs/bench.log" | grep -E '^\s+bench_sync_test|^(--- |ok|FAIL)'
rc=${PIPESTATUS[0]}
cat "$TESTBED_DIR/bench-sync.md" 2>/dev/null
[ -n "${KEEP_TESTBED:-}" ] || hack/testbed.sh down >/dev/null
exit "$rc"
