// Package lowerfit is the multi-scheduler's LowerClusterFit plugin. The upper cluster
// sees each lower cluster as one virtual node whose aggregate capacity hides
// fragmentation (12 free CPUs as 4+4+4 cannot run a 6 CPU pod). The plugin reads each
// virtual node's ClusterSummary and lets a pod onto a virtual node only if some lower
// node could take it, charging the pods it places against the summary until a newer
// summary counts them. It needs no lower-cluster credentials.
package lowerfit

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"

	"github.com/tensile-kube/tensile/pkg/capacity"
	"github.com/tensile-kube/tensile/pkg/generated/clientset/versioned"
	"github.com/tensile-kube/tensile/pkg/plugins/lowerfit/apis/config"
	configv1 "github.com/tensile-kube/tensile/pkg/plugins/lowerfit/apis/config/v1"
	"github.com/tensile-kube/tensile/pkg/vnodeident"
)

// Name is the plugin's name in a KubeSchedulerConfiguration.
const Name = "LowerClusterFit"

const stateKey fwk.StateKey = Name

// neutralScore is what nodes that are not virtual get: the plugin has no opinion.
const neutralScore = fwk.MaxNodeScore / 2

// notVirtual marks a non-virtual node's raw score for NormalizeScore.
const notVirtual int64 = -1

// Plugin implements LowerClusterFit.
type Plugin struct {
	handle   fwk.Handle
	args     config.LowerClusterFitArgs
	selector labels.Selector
	identity vnodeident.Identity
	store    *store
	// waiting holds the pods to activate when a summary changes.
	waiting *waiting
	queries *queries
	now     func() time.Time
}

var (
	_ fwk.PreFilterPlugin   = (*Plugin)(nil)
	_ fwk.FilterPlugin      = (*Plugin)(nil)
	_ fwk.ScorePlugin       = (*Plugin)(nil)
	_ fwk.ScoreExtensions   = (*Plugin)(nil)
	_ fwk.ReservePlugin     = (*Plugin)(nil)
	_ fwk.EnqueueExtensions = (*Plugin)(nil)
	_ fwk.SignPlugin        = (*Plugin)(nil)
)

// New is the plugin factory for app.WithPlugin. It watches ClusterSummary objects
// through the tensile.dev typed client built from the scheduler's own kubeconfig.
func New(ctx context.Context, obj runtime.Object, h fwk.Handle) (fwk.Plugin, error) {
	if h.KubeConfig() == nil {
		return nil, fmt.Errorf("%s needs the scheduler's kubeconfig to watch ClusterSummaries", Name)
	}
	client, err := versioned.NewForConfig(h.KubeConfig())
	if err != nil {
		return nil, fmt.Errorf("building the tensile.dev client: %w", err)
	}
	pl, err := newPlugin(obj, h, time.Now)
	if err != nil {
		return nil, err
	}
	if err := pl.watch(ctx, client); err != nil {
		return nil, err
	}
	return pl, nil
}

// newPlugin decodes and validates the args and builds the plugin without starting
// any watch.
func newPlugin(obj runtime.Object, h fwk.Handle, now func() time.Time) (*Plugin, error) {
	args, err := decodeArgs(obj)
	if err != nil {
		return nil, err
	}
	if err := config.ValidateLowerClusterFitArgs(field.NewPath("args"), args); err != nil {
		return nil, fmt.Errorf("invalid %s args: %w", Name, err)
	}
	sel, err := metav1.LabelSelectorAsSelector(args.VirtualNodeSelector)
	if err != nil {
		return nil, fmt.Errorf("virtualNodeSelector: %w", err)
	}
	pl := &Plugin{handle: h, args: *args, selector: sel, store: newStore(args.ReservationTTL.Duration, now), waiting: newWaiting(), queries: newQueries(), now: now}
	pl.identity = vnodeident.Default(nil)
	for k, v := range args.VirtualNodeSelector.MatchLabels {
		pl.identity.Labels[k] = v
	}
	return pl, nil
}

// decodeArgs accepts the internal args (what the scheduler passes after conversion),
// the versioned ones, raw ones, or none (all defaults).
func decodeArgs(obj runtime.Object) (*config.LowerClusterFitArgs, error) {
	var ext configv1.LowerClusterFitArgs
	switch a := obj.(type) {
	case *config.LowerClusterFitArgs:
		return a.DeepCopy(), nil
	case *configv1.LowerClusterFitArgs:
		ext = *a.DeepCopy()
	case nil:
	case *runtime.Unknown:
		if err := frameworkruntime.DecodeInto(a, &ext); err != nil {
			return nil, fmt.Errorf("decoding %s args: %w", Name, err)
		}
	default:
		return nil, fmt.Errorf("want args of type LowerClusterFitArgs, got %T", obj)
	}
	configv1.SetDefaults_LowerClusterFitArgs(&ext)
	out := &config.LowerClusterFitArgs{}
	configv1.Convert_v1_LowerClusterFitArgs_To_config_LowerClusterFitArgs(&ext, out)
	return out, nil
}

// Name returns the plugin name.
func (pl *Plugin) Name() string { return Name }

// isVirtual reports whether node stands for a lower cluster.
func (pl *Plugin) isVirtual(node *corev1.Node) bool {
	return node != nil && pl.selector.Matches(labels.Set(node.Labels))
}

// cycleData is what PreFilter computes once per pod; apart from the rejected flag it
// is never modified afterwards.
type cycleData struct {
	query *capacity.Query
	view  *view
	now   time.Time
	// cycle is the pod's cycle number in the waiting set.
	cycle uint64
	// rejected is set by the first Filter call that turns the pod away, so that the
	// parallel Filter calls on other nodes do not all take the waiting set's lock.
	rejected atomic.Bool
}

// Clone returns the same data: it is read-only.
func (d *cycleData) Clone() fwk.StateData { return d }

func readCycle(state fwk.CycleState) (*cycleData, *fwk.Status) {
	raw, err := state.Read(stateKey)
	if err != nil {
		return nil, fwk.AsStatus(fmt.Errorf("reading %s state: %w", Name, err))
	}
	d, ok := raw.(*cycleData)
	if !ok {
		return nil, fwk.AsStatus(fmt.Errorf("%s state has type %T", Name, raw))
	}
	return d, nil
}

// Signature fragment keys: what the plugin's answers for a pod depend on.
const (
	signRequests    = Name + ".Requests()"
	signConstraints = Name + ".LowerConstraints()"
)

// SignPod signs a pod by all that Filter and Score read of it: its requests and its
// lower constraints. Pods of one signature let the scheduler reuse the last cycle's
// scores (opportunistic batching, KEP-5598) instead of running every plugin on every
// node. That is sound here because a placement changes only the chosen node's
// capacity: before giving a hint, the scheduler filters and scores again the node the
// previous pod went to (whose reservation is the change), and it runs Filter on the
// hinted node, against this cycle's view with every reservation charged. A pod whose
// constraints cannot be read is not signed; PreFilter turns it away.
func (pl *Plugin) SignPod(_ context.Context, pod *corev1.Pod) ([]fwk.SignFragment, *fwk.Status) {
	q, _, err := pl.query(pod)
	if err != nil {
		return nil, fwk.NewStatus(fwk.Unschedulable, err.Error())
	}
	return []fwk.SignFragment{{Key: signRequests, Value: q.Requests}, {Key: signConstraints, Value: q.Constraints}}, nil
}

// query compiles pod's fit question against the current view, which it returns.
func (pl *Plugin) query(pod *corev1.Pod) (*capacity.Query, *view, error) {
	v := pl.store.snapshot()
	id := pl.identity
	id.IsVirtualNodeName = v.isVirtualName
	q, err := capacity.QueryForPod(pod, id)
	return q, v, err
}

// PreFilter snapshots the summaries and compiles the pod's requests and lower
// constraints once.
func (pl *Plugin) PreFilter(ctx context.Context, state fwk.CycleState, pod *corev1.Pod, _ []fwk.NodeInfo) (*fwk.PreFilterResult, *fwk.Status) {
	// Recorded before the view is taken: a summary applied after this point either
	// is in the view or finds the pod to activate.
	cycle := pl.waiting.add(pod)
	q, v, err := pl.query(pod)
	if err != nil {
		pl.waiting.remove(pod.UID) // no summary helps a pod whose constraints do not parse
		return nil, fwk.NewStatus(fwk.UnschedulableAndUnresolvable, err.Error())
	}
	q = pl.queries.prepared(q, v)
	state.Write(stateKey, &cycleData{query: q, view: v, now: pl.now(), cycle: cycle})
	return nil, nil
}

// PreFilterExtensions returns nil: other pods on a virtual node do not change the
// answer, the summary does.
func (pl *Plugin) PreFilterExtensions() fwk.PreFilterExtensions { return nil }

// Filter passes a virtual node only if its summary says a lower node fits the pod.
func (pl *Plugin) Filter(ctx context.Context, state fwk.CycleState, pod *corev1.Pod, nodeInfo fwk.NodeInfo) *fwk.Status {
	node := nodeInfo.Node()
	if !pl.isVirtual(node) {
		return nil
	}
	d, st := readCycle(state)
	if st != nil {
		return st
	}
	ix, st := pl.freshIndex(d, node.Name)
	if st != nil {
		pl.turnedAway(ctx, d, pod)
		return st
	}
	if r := ix.Fit(d.query); !r.Fits() {
		klog.FromContext(ctx).V(4).Info("Lower cluster cannot take pod", "pod", klog.KObj(pod), "node", node.Name, "reason", r.Message)
		pl.turnedAway(ctx, d, pod)
		return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, node.Name+": "+r.Message)
	}
	return nil
}

// turnedAway flags, once per cycle, that this plugin rejected the pod on some node:
// only such pods are activated by summary changes. If a summary changed while the
// pod was in this cycle, it is activated now, still in flight.
func (pl *Plugin) turnedAway(ctx context.Context, d *cycleData, pod *corev1.Pod) {
	if !d.rejected.CompareAndSwap(false, true) {
		return
	}
	pl.activate(klog.FromContext(ctx), pl.waiting.reject(pod.UID, d.cycle, pl.now()), "summary changed during the cycle")
}

// freshIndex returns the node's effective index if its summary is present and young
// enough.
func (pl *Plugin) freshIndex(d *cycleData, node string) (*capacity.Index, *fwk.Status) {
	ix, ok := d.view.nodes[node]
	if !ok {
		return nil, fwk.NewStatus(fwk.UnschedulableAndUnresolvable, node+": no summary")
	}
	if age := d.now.Sub(ix.UpdateTime); age > pl.args.MaxSummaryAge.Duration {
		return nil, fwk.NewStatus(fwk.UnschedulableAndUnresolvable,
			fmt.Sprintf("%s: summary stale (updated %s ago, max %s)", node, age.Round(time.Second), pl.args.MaxSummaryAge.Duration))
	}
	return ix, nil
}

// Score ranks virtual nodes by how many pods of this shape their lower cluster can
// still take. Other nodes get a marker that NormalizeScore turns into a neutral score.
func (pl *Plugin) Score(ctx context.Context, state fwk.CycleState, pod *corev1.Pod, nodeInfo fwk.NodeInfo) (int64, *fwk.Status) {
	node := nodeInfo.Node()
	if !pl.isVirtual(node) {
		return notVirtual, nil
	}
	d, st := readCycle(state)
	if st != nil {
		return 0, st
	}
	ix, ok := d.view.nodes[node.Name]
	if !ok {
		return 0, nil
	}
	return ix.Room(d.query), nil
}

// ScoreExtensions returns the plugin, which normalizes its scores.
func (pl *Plugin) ScoreExtensions() fwk.ScoreExtensions { return pl }

// NormalizeScore maps room to 0..100 relative to the roomiest virtual node, and gives
// other nodes the neutral middle.
func (pl *Plugin) NormalizeScore(_ context.Context, _ fwk.CycleState, _ *corev1.Pod, scores fwk.NodeScoreList) *fwk.Status {
	var best int64
	for _, s := range scores {
		best = max(best, s.Score)
	}
	for i := range scores {
		switch {
		case scores[i].Score == notVirtual:
			scores[i].Score = neutralScore
		case best == 0:
			scores[i].Score = fwk.MinNodeScore
		default:
			scores[i].Score = scores[i].Score * fwk.MaxNodeScore / best
		}
	}
	return nil
}

// Reserve charges the pod against the virtual node's summary, so that the next pods
// in a burst see the capacity it takes before any summary counts it.
func (pl *Plugin) Reserve(ctx context.Context, state fwk.CycleState, pod *corev1.Pod, nodeName string) *fwk.Status {
	d, st := readCycle(state)
	if st != nil {
		return st
	}
	// The binding cycle, which may wait on the API server for a while and runs for
	// many pods at once, needs none of it: each view held there is a copy of the node
	// map and a charged index.
	state.Delete(stateKey)
	pl.waiting.remove(pod.UID)
	if !d.view.isVirtualName(nodeName) {
		return nil
	}
	pl.store.reserve(pod.UID, types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}, nodeName, d.query)
	klog.FromContext(ctx).V(4).Info("Reserved lower capacity", "pod", klog.KObj(pod), "node", nodeName)
	return nil
}

// Unreserve releases the pod's charge; it is idempotent.
func (pl *Plugin) Unreserve(_ context.Context, _ fwk.CycleState, pod *corev1.Pod, _ string) {
	pl.store.release(pod.UID)
}
