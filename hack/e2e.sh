#!/usr/bin/env bash
# Runs test/e2e against a fresh test bed and always tears it down (unless KEEP_TESTBED=1).
# Extra arguments go to `go test` (e.g. -run TestSeedWalkthrough).
#
# The upper API server's node proxy (nodes/<node>/proxy, used by virtual-kubelet's own
# e2e suite) refuses loopback node addresses. Where it can (root, unshare), this script
# therefore runs the whole test bed and the tests in a network namespace of their own,
# with only a loopback interface: there, 192.0.2.10 (TEST-NET-1, never routed) is added
# to that loopback for the virtual node the suite tests (and the default route points at
# that loopback, for the API servers' advertise address). Nothing inside can reach, or be
# reached from, any other network; the namespace ends with the script. KEEP_TESTBED=1
# (debugging) or TESTBED_NETNS=0 stays in the host's namespace, where the node-proxy
# tests skip with that reason.
set -uo pipefail
cd "$(dirname "$0")/.."
proxy_ip=192.0.2.10
if [ -z "${TESTBED_IN_NETNS:-}" ] && [ -z "${KEEP_TESTBED:-}" ] && [ "${TESTBED_NETNS:-1}" != 0 ] &&
  command -v ip >/dev/null && unshare --net true 2>/dev/null; then
  # Inside there is no network: build the test binary's dependencies first.
  go test -c -o /dev/null ./test/e2e || exit 1
  exec unshare --net env TESTBED_IN_NETNS=1 "$0" "$@"
fi
if [ -n "${TESTBED_IN_NETNS:-}" ]; then
  # kube-apiserver picks its advertise address from the default route's interface.
  ip link set lo up && ip addr add "$proxy_ip/32" dev lo && ip route add default dev lo || exit 1
  export TESTBED_NODE_PROXY_IP=$proxy_ip GOPROXY=off
  echo "e2e: test bed in its own network namespace (node-proxy address $proxy_ip on its loopback)"
fi
hack/testbed.sh down >/dev/null
hack/testbed.sh up || { hack/testbed.sh down >/dev/null; exit 1; }
# End-to-end benchmarks (TestBench*) belong to `make bench`, not to the test suite.
go test -count=1 -timeout "${E2E_TIMEOUT:-40m}" -v -skip '^TestBench' ./test/e2e/... "$@" 2>&1 | tee "${TESTBED_DIR:-.testbed}/logs/e2e.log"
rc=${PIPESTATUS[0]}
echo "e2e summary:"
grep -E '^\s*--- (PASS|FAIL|SKIP)' "${TESTBED_DIR:-.testbed}/logs/e2e.log" | sed 's/^/  /'
if [ -z "${KEEP_TESTBED:-}" ]; then hack/testbed.sh down >/dev/null; fi
exit "$rc"
