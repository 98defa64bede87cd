#!/usr/bin/env bash
# Runs test/e2e against a fresh test bed and always tears it down (unless KEEP_TESTBED=1).
# Extra arguments go to `go test` (e.g. -run TestSeedWalkthrough).
set -uo pipefail
cd "$(dirname "$0")/.."
hack/testbed.sh down >/dev/null
hack/testbed.sh up || { hack/testbed.sh down >/dev/null; exit 1; }
# End-to-end benchmarks (TestBench*) belong to `make bench`, not to the test suite.
go test -count=1 -timeout "${E2E_TIMEOUT:-40m}" -v -skip '^TestBench' ./test/e2e/... "$@" 2>&1 | tee "${TESTBED_DIR:-.testbed}/logs/e2e.log"
rc=${PIPESTATUS[0]}
echo "e2e summary:"
grep -E '^\s*--- (PASS|FAIL|SKIP)' "${TESTBED_DIR:-.testbed}/logs/e2e.log" | sed 's/^/  /'
if [ -z "${KEEP_TESTBED:-}" ]; then hack/testbed.sh down >/dev/null; fi
exit "$rc"
