package provider

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/node"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/tensile-kube/tensile/pkg/capacity"
)

// Node condition reasons.
const (
	ReasonLowerReady       = "LowerClusterReady"
	ReasonLowerUnreachable = "LowerClusterUnreachable"
)

// NodeConfig configures a NodeProvider.
type NodeConfig struct {
	// Template is the node as registered: name, labels, taints, addresses, daemon port.
	Template *corev1.Node
	// Lower is a client of the lower cluster, probed for health and version.
	Lower kubernetes.Interface
	// Model is the lower cluster's capacity model.
	Model *capacity.Model
	// MinInterval bounds how often a capacity change is written; default 1s.
	MinInterval time.Duration
	// ProbeTimeout bounds one health probe; default 5s.
	ProbeTimeout time.Duration
}

// NodeProvider keeps the virtual node's status true to its lower cluster: capacity from
// the capacity model, Ready from the lower API server's health, kubeletVersion from its
// version.
type NodeProvider struct {
	cfg NodeConfig

	mu      sync.Mutex
	healthy bool
	reason  string
	since   metav1.Time
	version string

	kick chan struct{}
}

var _ node.NodeProvider = (*NodeProvider)(nil)

// NewNodeProvider checks the lower cluster once (fail fast on a bad kubeconfig) and
// returns a provider whose Node() is ready to register.
func NewNodeProvider(ctx context.Context, cfg NodeConfig) (*NodeProvider, error) {
	if cfg.Template == nil || cfg.Lower == nil || cfg.Model == nil {
		return nil, errors.New("node provider: template, lower client and model are required")
	}
	if cfg.MinInterval <= 0 {
		cfg.MinInterval = time.Second
	}
	if cfg.ProbeTimeout <= 0 {
		cfg.ProbeTimeout = 5 * time.Second
	}
	n := &NodeProvider{cfg: cfg, kick: make(chan struct{}, 1), since: metav1.Now()}
	if err := n.probe(ctx); err != nil {
		return nil, err
	}
	return n, nil
}

// probe asks the lower API server whether it is ready, and its version when it is.
func (n *NodeProvider) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.ProbeTimeout)
	defer cancel()
	_, err := n.cfg.Lower.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	var version string
	if err == nil {
		// Bounded by the same timeout: a hung /version would block every later Ping.
		info, verr := discovery.ToServerVersionInterfaceWithContext(n.cfg.Lower.Discovery()).ServerVersionWithContext(ctx)
		if verr != nil {
			err = verr
		} else {
			version = info.GitVersion
		}
	}
	n.record(err, version)
	return err
}

func (n *NodeProvider) record(err error, version string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	healthy := err == nil
	reason := "the lower cluster's API server is ready"
	if err != nil {
		reason = fmt.Sprintf("the lower cluster's API server is unreachable or not ready: %v", err)
	}
	if healthy != n.healthy {
		n.since = metav1.Now()
		select {
		case n.kick <- struct{}{}:
		default:
		}
	}
	n.healthy, n.reason = healthy, reason
	if version != "" {
		n.version = version
	}
}

// Ping probes the lower cluster. It reports the result through the node's Ready
// condition and returns nil: the virtual node itself is alive, and virtual-kubelet stops
// writing the node status altogether while Ping fails, which would hide the condition.
func (n *NodeProvider) Ping(ctx context.Context) error {
	if err := n.probe(ctx); err != nil {
		klog.FromContext(ctx).V(2).Info("Lower cluster probe failed", "err", err)
	}
	return nil
}

// NotifyNodeStatus pushes the node status whenever capacity or health changes, at most
// once per MinInterval. The model also signals changes that leave the node as it was
// (our own pods: the upper scheduler counts them already; lower node updates that move
// nothing); virtual-kubelet would turn each into an upper Node write, so a status equal
// to the last one pushed, heartbeats aside, is not pushed. virtual-kubelet's own
// status loop keeps the heartbeat.
func (n *NodeProvider) NotifyNodeStatus(ctx context.Context, cb func(*corev1.Node)) {
	changes := n.cfg.Model.Subscribe()
	go func() {
		last := time.Time{}
		var pushed *corev1.Node
		for {
			select {
			case <-ctx.Done():
				return
			case <-changes:
			case <-n.kick:
			}
			if wait := n.cfg.MinInterval - time.Since(last); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
			last = time.Now()
			node := n.Node()
			if pushed != nil && sameStatus(pushed, node) {
				continue
			}
			pushed = node
			cb(node)
		}
	}()
}

// sameStatus reports whether two node statuses differ in nothing but heartbeat times.
func sameStatus(a, b *corev1.Node) bool {
	return apiequality.Semantic.DeepEqual(withoutHeartbeats(a.Status), withoutHeartbeats(b.Status))
}

func withoutHeartbeats(s corev1.NodeStatus) corev1.NodeStatus {
	s.Conditions = slices.Clone(s.Conditions)
	for i := range s.Conditions {
		s.Conditions[i].LastHeartbeatTime = metav1.Time{}
	}
	return s
}

// LowerVersion returns the lower cluster's version as last seen.
func (n *NodeProvider) LowerVersion() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.version
}

// Node returns the node as it should be now.
func (n *NodeProvider) Node() *corev1.Node {
	out := n.cfg.Template.DeepCopy()
	agg := n.cfg.Model.Aggregate()
	out.Status.Capacity = agg.Allocatable.DeepCopy()
	out.Status.Allocatable = agg.Allocatable.DeepCopy()
	n.mu.Lock()
	healthy, reason, since, version := n.healthy, n.reason, n.since, n.version
	n.mu.Unlock()
	out.Status.NodeInfo.KubeletVersion = version
	out.Status.Phase = corev1.NodeRunning
	ready := corev1.NodeCondition{
		Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: ReasonLowerReady,
		Message:            fmt.Sprintf("%s; %d of %d lower nodes schedulable", reason, agg.EligibleNodes, agg.Nodes),
		LastTransitionTime: since, LastHeartbeatTime: metav1.Now(),
	}
	if !healthy {
		ready.Status, ready.Reason, ready.Message = corev1.ConditionFalse, ReasonLowerUnreachable, reason
	}
	out.Status.Conditions = []corev1.NodeCondition{ready}
	for _, t := range []corev1.NodeConditionType{corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure, corev1.NodeNetworkUnavailable} {
		out.Status.Conditions = append(out.Status.Conditions, corev1.NodeCondition{
			Type: t, Status: corev1.ConditionFalse, Reason: "LowerClusterManaged",
			LastTransitionTime: n.cfg.Template.CreationTimestamp, LastHeartbeatTime: metav1.Now(),
		})
	}
	return out
}
