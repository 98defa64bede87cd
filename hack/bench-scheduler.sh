#!/usr/bin/env bash
# Scheduler throughput comparison (docs/benchmarks.md, "Scheduler throughput"): the
# multi-scheduler profile versus the same binary and configuration without
# LowerClusterFit, in one run, on a test bed's upper cluster: 100 virtual Node objects
# whose ClusterSummaries stand for 1,000 lower nodes each, 5,000 pods per run, 5 rounds,
# the two schedulers alternating (test/e2e/scheduler_bench_test.go). It ends with a
# targets table: stream pods/s, create-to-bound p99 and peak RSS, multi/plain.
#
#   hack/bench-scheduler.sh     # its own test bed (.testbed-bench-sched), torn down after
#
# Environment: TESTBED_DIR (a .testbed* folder; a test bed already up there is used and
# kept), KEEP_TESTBED=1, SCHED_BENCH_VNODES=100 SCHED_BENCH_LOWER_NODES=1000
# SCHED_BENCH_PODS=5000 SCHED_BENCH_ROUNDS=5 SCHED_BENCH_WORKERS=16 (pod-creating
# clients), SCHED_BENCH_PPROF_SECONDS=N (CPU profiles of round 0 into the test bed's
# logs/), SCHED_BENCH_HEAP=1 (heap profiles of round 0, once synced and at the end,
# into logs/). Needs bin/ built (make build tools).
set -uo pipefail
cd "$(dirname "$0")/.."
export TESTBED_DIR=${TESTBED_DIR:-.testbed-bench-sched}
for b in multi-scheduler kube-apiserver kwokctl; do
  [ -x "bin/$b" ] || { echo "bench-scheduler: missing bin/$b: run 'make build tools' first" >&2; exit 1; }
done

keep=${KEEP_TESTBED:-}
if [ -f "$TESTBED_DIR/upper.kubeconfig" ] && bin/kubectl --kubeconfig "$TESTBED_DIR/upper.kubeconfig" get --raw /readyz >/dev/null 2>&1; then
  keep=1 # not ours to tear down
else
  hack/testbed.sh up >/dev/null || { hack/testbed.sh down >/dev/null; exit 1; }
fi

log=$TESTBED_DIR/logs/bench-scheduler.log
mkdir -p "$(dirname "$log")"
echo "bench-scheduler: running (log: $log)"
TENSILE_BENCH=1 go test -count=1 -timeout "${BENCH_TIMEOUT:-90m}" -v -run '^TestBenchScheduler$' ./test/e2e/ >"$log" 2>&1
rc=$?
grep -E 'RESULT|round [0-9]+ ' "$log" | sed 's/^ *scheduler_bench_test.go:[0-9]*: /  /'
# For hack/bench-report.sh (make bench): the RESULT lines, the targets table among them.
results=${BENCH_RESULTS:-.testbed-results}
mkdir -p "$results" && rm -f "$results/bench-scheduler.md"
[ "$rc" != 0 ] || grep 'RESULT' "$log" | sed 's/^.*RESULT //' >"$results/bench-scheduler.md"
[ "$rc" = 0 ] || tail -30 "$log"
if [ -z "$keep" ]; then
  hack/testbed.sh down >/dev/null
fi
exit "$rc"
