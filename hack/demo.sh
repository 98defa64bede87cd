#!/usr/bin/env bash
# make demo: the source document's walkthrough on the local test bed.
#
#  1. the test bed: upper, lower-a, lower-b (hack/testbed.sh up)
#  2. virtual nodes vk-a (lower-a) and vk-b (lower-b), the multi-scheduler, the webhook
#     and the descheduler loop, as background processes on 127.0.0.1
#  3. the walkthrough workload (examples/walkthrough) with its local PV pinned to vk-a
#  4. a printout: the nodes, the pod Running above and below with one IP
#
# Everything keeps running; `make testbed-down` stops every process this started
# (their PIDs are in .testbed/pids) and removes .testbed/. Running it again is safe.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
state=$root/.testbed
bin=$root/bin
walk=$root/examples/walkthrough
k() { local c=$1; shift; "$bin/kubectl" --kubeconfig "$state/$c.kubeconfig" "$@"; }

hack/testbed.sh up
mkdir -p "$state/pids" "$state/logs" "$state/demo"

# start NAME CMD...: run CMD in the background once, logging to .testbed/logs/NAME.log.
start() {
  local name=$1; shift
  local pidf=$state/pids/$name.pid
  if [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
    echo "demo: $name already running (pid $(cat "$pidf"))"
    return
  fi
  nohup "$@" >"$state/logs/$name.log" 2>&1 &
  echo $! >"$pidf"
  echo "demo: started $name (pid $!, log .testbed/logs/$name.log)"
}

start vk-a "$bin/virtual-node" --nodename vk-a --kubeconfig "$state/upper.kubeconfig" \
  --client-kubeconfig "$state/lower-a.kubeconfig" --metrics-bind-address 127.0.0.1:10256 \
  --listen-address 127.0.0.1:10250 --approve-own-csr
start vk-b "$bin/virtual-node" --nodename vk-b --kubeconfig "$state/upper.kubeconfig" \
  --client-kubeconfig "$state/lower-b.kubeconfig" --metrics-bind-address 127.0.0.1:10257 \
  --listen-address 127.0.0.1:10251 --approve-own-csr

# kube-scheduler ignores --kubeconfig when --config is given: the config names it.
{ cat manifests/multi-scheduler/config.yaml
  printf 'clientConnection:\n  kubeconfig: %s\n  qps: 200\n  burst: 400\n' "$state/upper.kubeconfig"; } >"$state/demo/multi-scheduler.yaml"
start multi-scheduler "$bin/multi-scheduler" --config "$state/demo/multi-scheduler.yaml" \
  --secure-port 0 --leader-elect=false
start webhook "$bin/webhook" --kubeconfig "$state/upper.kubeconfig" --manage-webhook-config \
  --webhook-url https://127.0.0.1:9443/mutate --bind-address 127.0.0.1 --secure-port 9443 \
  --cert-ips 127.0.0.1 --health-bind-address 127.0.0.1:8081
start descheduler "$bin/descheduler" --kubeconfig "$state/upper.kubeconfig" \
  --policy-config-file manifests/descheduler/policy-demo.yaml --descheduling-interval 10s \
  --secure-port 0

# The webhook admits virtual-pod=true pods once it has loaded the exclusion records
# (failurePolicy Fail: until then such pods are refused).
for _ in $(seq 60); do curl -fsS http://127.0.0.1:8081/readyz >/dev/null 2>&1 && break; sleep 0.5; done

# The nodes appear once the virtual nodes have synced their lower clusters.
for n in vk-a vk-b; do
  for _ in $(seq 120); do k upper get "node/$n" >/dev/null 2>&1 && break; sleep 0.5; done
  k upper wait --for=condition=Ready "node/$n" --timeout=60s >/dev/null ||
    { echo "demo: $n did not become Ready; see .testbed/logs/$n.log" >&2; tail -5 "$state/logs/$n.log" >&2; exit 1; }
done

# The walkthrough: a local PV below pinned to a real lower-a node, the workload above
# with its PV pinned to the virtual node vk-a (the document's vk-node).
sed 's/NODE/lower-a-node-0/' "$walk/lower-pv.yaml" | k lower-a apply -f - >/dev/null
sed 's/vk-node/vk-a/' "$walk/workload.yaml" | k upper apply -n default -f - >/dev/null
k upper wait --for=jsonpath='{.status.phase}'=Running pod/vk-demo -n default --timeout=90s >/dev/null
k lower-a wait --for=jsonpath='{.status.phase}'=Running pod/vk-demo -n default --timeout=30s >/dev/null

echo
echo "== upper cluster: nodes"
k upper get nodes -o wide
echo
echo "== upper cluster: the walkthrough pod, on the virtual node"
k upper get pod vk-demo -n default -o wide
echo
echo "== lower-a: the same pod on a real node, and what it needs"
k lower-a get pod vk-demo -n default -o wide
k lower-a get configmap/myconfigmap secret/mysecret pvc/vk-demo -n default
cat <<MSG

Everything keeps running. Try:
  bin/kubectl --kubeconfig .testbed/upper.kubeconfig get nodes
  bin/kubectl --kubeconfig .testbed/upper.kubeconfig describe node vk-b
  bin/kubectl --kubeconfig .testbed/lower-a.kubeconfig get pods -A
Stop everything: make testbed-down
MSG
