#!/usr/bin/env bash
# The end-to-end sync benchmark (make bench), on a dedicated test bed (.testbed-bench)
# whose lower-a nodes have room for the pods:
#   - 3 alternating rounds of 1,000 pods each: directly in lower-a, through a virtual
#     node, and on KWOK nodes of the upper cluster (a kubelet's baseline); per round the
#     cleanup's timing, CPU per process and the upper API server's writes per pod;
#   - a memory phase: 10,000 foreign pods on 20 more lower nodes, a fresh virtual node,
#     2 rounds of 1,000 pods (direct and through), its RSS after sync and peak.
# Knobs: BENCH_PODS, BENCH_ROUNDS, BENCH_FOREIGN_PODS, BENCH_FOREIGN_NODES,
# BENCH_MEM_ROUNDS, BENCH_VNODE_ARGS, KEEP_TESTBED=1 (docs/benchmarks.md).
# Figures go to .testbed-bench/bench-sync.md; copy them into docs/benchmarks.md.
set -uo pipefail
cd "$(dirname "$0")/.."
export TESTBED_DIR=${TESTBED_DIR:-.testbed-bench} LOWER_A_NODES=${LOWER_A_NODES:-3} LOWER_A_CPU=${LOWER_A_CPU:-32} LOWER_A_PODS=${LOWER_A_PODS:-500}
hack/testbed.sh down >/dev/null
hack/testbed.sh up >/dev/null || exit 1
start=$(date +%s)
TENSILE_BENCH=1 go test -count=1 -timeout 60m -v -run '^TestBenchSync$' ./test/e2e/ 2>&1 | tee "$TESTBED_DIR/logs/bench.log" | grep -E '^\s+bench_|^(--- |ok|FAIL)'
rc=${PIPESTATUS[0]}
cat "$TESTBED_DIR/bench-sync.md" 2>/dev/null
# For hack/bench-report.sh (make bench): the tables outlive the test bed.
results=${BENCH_RESULTS:-.testbed-results}
mkdir -p "$results" && rm -f "$results/bench-sync.md"
[ "$rc" != 0 ] || cp "$TESTBED_DIR/bench-sync.md" "$results/" 2>/dev/null
echo "TestBenchSync took $(($(date +%s) - start)) s"
[ -n "${KEEP_TESTBED:-}" ] || hack/testbed.sh down >/dev/null
exit "$rc"
