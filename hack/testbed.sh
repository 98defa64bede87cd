#!/usr/bin/env bash
# The local multi-cluster test bed: three real control planes (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler built from the pinned modules) on 127.0.0.1,
# orchestrated by kwokctl's binary runtime, with KWOK fake nodes in the lower clusters.
#
#   hack/testbed.sh up      # idempotent: creates what is missing, keeps what runs
#   hack/testbed.sh down    # stops every process and removes .testbed/
#   hack/testbed.sh status
#
# Everything lives under .testbed/ (or $TESTBED_DIR) (KWOK_WORKDIR, kubeconfigs, logs); nothing is written
# to ~/.kube or ~/.kwok and nothing listens on a non-loopback address.
#
# Node shapes (environment): LOWER_A_NODES=3 LOWER_A_CPU=4 LOWER_A_MEMORY=16Gi
# LOWER_A_PODS=110 LOWER_A_ZONE=zone-a, and the same with LOWER_B_ (defaults 3, 8, 32Gi,
# 110, zone-b). UPPER_WORKERS=1.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/bin
# TESTBED_DIR runs a second, independent test bed (e.g. .testbed-sched) next to the
# default one: its own clusters, ports and files. It must be a .testbed* folder of the repo.
state=$root/${TESTBED_DIR:-.testbed}
case $(basename "$state") in .testbed*) ;; *) echo "testbed: TESTBED_DIR must be a .testbed* folder" >&2; exit 2 ;; esac
export KWOK_WORKDIR=$state/kwok
export PATH=$bin:$PATH
# kwokctl also reads $HOME for defaults: point it inside the test bed.
export HOME=$state/home

clusters=(upper lower-a lower-b)

die() { echo "testbed: $*" >&2; exit 1; }

need_tools() {
  local t
  for t in kwokctl kwok kube-apiserver kube-controller-manager kube-scheduler kubectl etcd; do
    [ -x "$bin/$t" ] || die "missing $bin/$t: run 'make tools' first"
  done
}

kubeconfig() { echo "$state/$1.kubeconfig"; }

# kwok_config writes the kwokctl configuration of one cluster.
kwok_config() {
  local name=$1 file=$state/config/$1.yaml extra_crds=""
  mkdir -p "$state/config"
  if [ "$name" != upper ] && [ -f "$root/hack/testbed/kwok-streaming.yaml" ]; then
    extra_crds='  enableCRDs: [ClusterLogs, ClusterExec, ClusterPortForward, ClusterAttach]'
  fi
  cat >"$file" <<YAML
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  runtime: binary
  bindAddress: 127.0.0.1
  securePort: true
  kubeAuthorization: true
  disableQPSLimits: true
  quietPull: true
  kubeApiserverBinary: $bin/kube-apiserver
  kubeControllerManagerBinary: $bin/kube-controller-manager
  kubeSchedulerBinary: $bin/kube-scheduler
  kubectlBinary: $bin/kubectl
  etcdBinary: $bin/etcd
  kwokControllerBinary: $bin/kwok
  cacheDir: $state/cache
  # kwokctl multiplies every heartbeat setting by 5 by default: node leases of 200 s and
  # a node-monitor grace period of 200 s. A restarted KWOK (kwokctl stop/start: a new
  # holder identity) takes its nodes over only once their leases expire, so after an
  # outage pods stayed Pending for minutes, and a node that stops reporting was marked
  # NotReady only after 200 s. 1 gives a kubelet's values (40 s lease and grace period).
  heartbeatFactor: 1
$extra_crds
componentsPatches:
# kwokctl's binary runtime passes --manage-all-nodes=true; the last flag wins, so kwok
# only takes nodes annotated as fake and never the virtual nodes' leases.
- name: kwok-controller
  extraArgs:
  - key: manage-all-nodes
    value: "false"
  - key: manage-nodes-with-annotation-selector
    value: kwok.x-k8s.io/node=fake
# One instance each: leader election only adds a way to die under load (a lease renewal
# that misses its deadline on a busy machine ends the process).
- name: kube-scheduler
  extraArgs:
  - key: leader-elect
    value: "false"
YAML
  local kcm_args='  - key: leader-elect
    value: "false"'
  if [ "$name" != upper ]; then
    printf -- '- name: kube-controller-manager\n  extraArgs:\n%s\n' "$kcm_args" >>"$file"
  fi
  if [ "$name" = upper ]; then
    # The upper API server calls the virtual nodes' kubelet API (logs, exec, ...)
    # with the cluster's admin client certificate.
    local pki=$KWOK_WORKDIR/clusters/upper/pki
    cat >>"$file" <<YAML
- name: kube-apiserver
  extraArgs:
  - key: kubelet-client-certificate
    value: $pki/admin.crt
  - key: kubelet-client-key
    value: $pki/admin.key
  - key: kubelet-preferred-address-types
    value: InternalIP
# Signs the virtual nodes' kubelet-serving certificates (their CSRs).
- name: kube-controller-manager
  extraArgs:
$kcm_args
  - key: cluster-signing-cert-file
    value: $pki/ca.crt
  - key: cluster-signing-key-file
    value: $pki/ca.key
YAML
  fi
  # Lower clusters get the test bed's KWOK stages (kubelet-like resize, ephemeral
  # containers, observedGeneration): hack/testbed/kwok-stages.yaml.
  if [ "$name" != upper ] && [ -f "$root/hack/testbed/kwok-stages.yaml" ]; then
    cat "$root/hack/testbed/kwok-stages.yaml" >>"$file"
  fi
  echo "$file"
}

cluster_running() {
  [ -f "$(kubeconfig "$1")" ] && kubectl --kubeconfig "$(kubeconfig "$1")" get --raw /readyz >/dev/null 2>&1
}

# dead_component prints the first process kwokctl started for cluster $1 that no longer
# runs, and fails when all run.
dead_component() {
  local f
  for f in "$KWOK_WORKDIR/clusters/$1/pids/"*.pid; do
    kill -0 "$(cat "$f")" 2>/dev/null || { basename "$f" .pid; return 0; }
  done
  return 1
}

# ensure_controllers makes sure cluster $1's processes outlive kube-controller-manager's
# start-up wait (~20 s). On a loaded machine it exits for good when its API server is
# not healthy by then, and kwokctl's binary runtime does not restart it: the cluster
# would have no ServiceAccounts (pods are refused), no Job or node lifecycle
# controller. Such a cluster is stopped and started again, up to three times.
ensure_controllers() {
  local name=$1 attempt i dead
  for attempt in 1 2 3; do
    dead=""
    for i in $(seq 25); do
      if dead=$(dead_component "$name"); then break; fi
      sleep 1
    done
    [ -z "$dead" ] && return 0
    echo "testbed: $name: $dead exited; restarting the cluster (attempt $attempt)" >&2
    kwokctl stop cluster --name "$name" >/dev/null 2>&1 || true
    kwokctl start cluster --name "$name" >/dev/null 2>&1 || true
  done
  die "$name: $dead exits after every start"
}

create_cluster() {
  local name=$1
  if cluster_running "$name"; then
    echo "testbed: $name already running"
    return
  fi
  if [ -d "$KWOK_WORKDIR/clusters/$name" ]; then
    # Stopped (e.g. after a reboot) or half-created: start it again, or rebuild it.
    kwokctl start cluster --name "$name" >/dev/null 2>&1 && cluster_running "$name" && { echo "testbed: $name restarted"; return; }
    kwokctl delete cluster --name "$name" --kubeconfig "$(kubeconfig "$name")" >/dev/null 2>&1 || true
  fi
  # Creation can fail or hang when another test bed takes a port kwokctl picked in the
  # meantime: bound it, clean up, try again.
  local attempt
  for attempt in 1 2 3; do
    if timeout 150 kwokctl create cluster --name "$name" --config "$(kwok_config "$name")" \
      --kubeconfig "$(kubeconfig "$name")" --wait 120s >"$state/logs/create-$name.log" 2>&1; then
      break
    fi
    kwokctl delete cluster --name "$name" --kubeconfig "$(kubeconfig "$name")" >/dev/null 2>&1 || true
    if [ "$attempt" = 3 ]; then
      tail -20 "$state/logs/create-$name.log" >&2
      die "creating cluster $name failed 3 times (log: $state/logs/create-$name.log)"
    fi
    echo "testbed: creating $name failed (attempt $attempt); retrying" >&2
  done
  ensure_controllers "$name"
  # kwokctl names the context kwok-<name>; keep it, it is the only one in the file.
  echo "testbed: $name up ($(kubectl --kubeconfig "$(kubeconfig "$name")" config view -o jsonpath='{.clusters[0].cluster.server}'))"
}

# fake_nodes NAME PREFIX COUNT CPU MEMORY PODS ZONE applies KWOK-managed nodes.
fake_nodes() {
  local name=$1 prefix=$2 count=$3 cpu=$4 mem=$5 pods=$6 zone=$7 i
  {
    for ((i = 0; i < count; i++)); do
      cat <<YAML
---
apiVersion: v1
kind: Node
metadata:
  name: $prefix-$i
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/hostname: $prefix-$i
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    node-role.kubernetes.io/worker: ""
    topology.kubernetes.io/region: $name
    topology.kubernetes.io/zone: $zone
    type: kwok
spec: {}
status:
  allocatable: {cpu: "$cpu", memory: $mem, pods: "$pods", ephemeral-storage: 100Gi}
  capacity: {cpu: "$cpu", memory: $mem, pods: "$pods", ephemeral-storage: 100Gi}
  nodeInfo: {architecture: amd64, operatingSystem: linux, kubeletVersion: fake, kubeProxyVersion: fake}
YAML
    done
  } | kubectl --kubeconfig "$(kubeconfig "$name")" apply -f - >/dev/null
}

up() {
  need_tools
  mkdir -p "$state/logs" "$HOME"
  local c
  for c in "${clusters[@]}"; do create_cluster "$c"; done
  fake_nodes upper upper-worker "${UPPER_WORKERS:-1}" 8 32Gi 110 zone-upper
  fake_nodes lower-a lower-a-node "${LOWER_A_NODES:-3}" "${LOWER_A_CPU:-4}" "${LOWER_A_MEMORY:-16Gi}" "${LOWER_A_PODS:-110}" "${LOWER_A_ZONE:-zone-a}"
  fake_nodes lower-b lower-b-node "${LOWER_B_NODES:-3}" "${LOWER_B_CPU:-8}" "${LOWER_B_MEMORY:-32Gi}" "${LOWER_B_PODS:-110}" "${LOWER_B_ZONE:-zone-b}"
  if [ -f "$root/hack/testbed/kwok-streaming.yaml" ]; then
    for c in lower-a lower-b; do
      kubectl --kubeconfig "$(kubeconfig "$c")" apply -f "$root/hack/testbed/kwok-streaming.yaml" >/dev/null
    done
  fi
  # The project's own API (capacity summaries, placement exclusions) in the upper cluster.
  if compgen -G "$root/manifests/crds/*.yaml" >/dev/null; then
    kubectl --kubeconfig "$(kubeconfig upper)" apply -f "$root/manifests/crds/" >/dev/null
  fi
  for c in "${clusters[@]}"; do
    kubectl --kubeconfig "$(kubeconfig "$c")" wait --for=condition=Ready node --all --timeout=60s >/dev/null
  done
  status
}

status() {
  local c
  for c in "${clusters[@]}"; do
    if cluster_running "$c"; then
      echo "$c: $(kubeconfig "$c")"
      kubectl --kubeconfig "$(kubeconfig "$c")" get nodes --no-headers 2>/dev/null | sed 's/^/  /'
    else
      echo "$c: not running"
    fi
  done
}

down() {
  # Processes that `make demo` started record their PIDs here.
  local f c
  if [ -d "$state/pids" ]; then
    for f in "$state"/pids/*.pid; do
      [ -f "$f" ] || continue
      kill "$(cat "$f")" 2>/dev/null || true
      rm -f "$f"
    done
  fi
  if [ -x "$bin/kwokctl" ] && [ -d "$KWOK_WORKDIR/clusters" ]; then
    for c in "$KWOK_WORKDIR"/clusters/*; do
      [ -d "$c" ] || continue
      kwokctl delete cluster --name "$(basename "$c")" --kubeconfig "$(kubeconfig "$(basename "$c")")" >/dev/null 2>&1 || true
    done
  fi
  # Anything still running from the test bed's binaries (a crash can leave strays).
  pkill -f "$state/" 2>/dev/null || true
  rm -rf "$state"
  echo "testbed: down"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) die "usage: $0 up|down|status" ;;
esac
