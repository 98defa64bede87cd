package recreateunschedulable

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"sigs.k8s.io/descheduler/pkg/descheduler/evictions"
	podutil "sigs.k8s.io/descheduler/pkg/descheduler/pod"
	"sigs.k8s.io/descheduler/pkg/framework/pluginregistry"
	frameworktypes "sigs.k8s.io/descheduler/pkg/framework/types"

	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
	"github.com/tensile-kube/tensile/pkg/placement"
)

// PluginName is the name the plugin is enabled by in a DeschedulerPolicy.
const PluginName = "RecreateUnschedulable"

// ExclusionStore reads and writes PlacementExclusion records; placement.Client is one.
type ExclusionStore interface {
	// Get returns the named record, or an error for which apierrors.IsNotFound holds.
	Get(ctx context.Context, namespace, name string) (*v1alpha1.PlacementExclusion, error)
	// Create creates a record.
	Create(ctx context.Context, rec *v1alpha1.PlacementExclusion) (*v1alpha1.PlacementExclusion, error)
	// Update replaces a record, guarded by its resourceVersion.
	Update(ctx context.Context, rec *v1alpha1.PlacementExclusion) (*v1alpha1.PlacementExclusion, error)
}

var _ ExclusionStore = (*placement.Client)(nil)

// Options are what the plugin needs beyond its args and the descheduler's handle.
type Options struct {
	// Exclusions stores the records of controller-owned pods and of bare pods'
	// lineages. The handle's clientset cannot reach custom resources; without a store,
	// every pod is left alone (a bare pod's re-creations could not be counted).
	Exclusions ExclusionStore
	// DryRun makes the plugin change nothing. The descheduler's --dry-run already gives
	// plugins a sandbox clientset, but the exclusion store talks to the real cluster.
	DryRun bool
	// Clock tells the time; nil means the real clock.
	Clock clock.PassiveClock
	// Events records Events; nil means ClientEvents over the handle's clientset (in
	// dry-run mode upstream hands plugins a sandbox clientset, so nothing escapes).
	Events EventSink
	// Live reads the real cluster, for dry-run mode only: the plugin fills upstream's
	// sandbox from it when it is built and decides from its pods (see sandbox.go).
	// Nil: the plugin reads the sandbox as upstream filled it.
	Live kubernetes.Interface
}

// RecreateUnschedulable is the plugin. See the package documentation.
type RecreateUnschedulable struct {
	logger       klog.Logger
	handle       frameworktypes.Handle
	args         *RecreateUnschedulableArgs
	opts         Options
	selection    selection
	podFilter    podutil.FilterFunc
	virtualNodes labels.Selector
}

var _ frameworktypes.DeschedulePlugin = (*RecreateUnschedulable)(nil)

// NewBuilder returns the registry's plugin builder for opts.
func NewBuilder(opts Options) pluginregistry.PluginBuilder {
	return func(ctx context.Context, args runtime.Object, handle frameworktypes.Handle) (frameworktypes.Plugin, error) {
		return NewWithOptions(ctx, args, handle, opts)
	}
}

// New builds the plugin with default Options (no exclusion store: every pod is left
// alone). Commands use NewBuilder.
func New(ctx context.Context, args runtime.Object, handle frameworktypes.Handle) (frameworktypes.Plugin, error) {
	return NewWithOptions(ctx, args, handle, Options{})
}

// NewWithOptions builds the plugin: it checks the args type, defaults a copy of the
// args and validates it, and builds the pod filter and node selector once.
func NewWithOptions(ctx context.Context, args runtime.Object, handle frameworktypes.Handle, opts Options) (frameworktypes.Plugin, error) {
	in, ok := args.(*RecreateUnschedulableArgs)
	if !ok {
		return nil, fmt.Errorf("want args of type RecreateUnschedulableArgs, got %T", args)
	}
	if handle == nil {
		return nil, errors.New("a framework handle is required")
	}
	a := in.DeepCopy()
	SetDefaults_RecreateUnschedulableArgs(a)
	if err := validateArgs(a, nil).ToAggregate(); err != nil {
		return nil, fmt.Errorf("invalid %s args: %w", PluginName, err)
	}
	logger := klog.FromContext(ctx).WithValues("plugin", PluginName)
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Events == nil {
		opts.Events = NewClientEvents(handle.ClientSet(), logger)
	}
	if tracker := sandboxTracker(handle.ClientSet()); opts.DryRun && opts.Live != nil && tracker != nil {
		n, err := primeSandbox(ctx, opts.Live, tracker)
		if err != nil {
			return nil, fmt.Errorf("dry run: filling the sandbox from the cluster: %w", err)
		}
		logger.V(2).Info("Dry run: filled the sandbox from the cluster", "objects", n)
	}
	var include, exclude sets.Set[string]
	if a.Namespaces != nil {
		include, exclude = sets.New(a.Namespaces.Include...), sets.New(a.Namespaces.Exclude...)
	}
	filter, err := podutil.NewOptions().WithNamespaces(include).WithoutNamespaces(exclude).
		WithLabelSelector(a.LabelSelector).BuildFilterFunc()
	if err != nil {
		return nil, fmt.Errorf("building the pod filter: %w", err)
	}
	nodes, err := metav1.LabelSelectorAsSelector(a.VirtualNodeSelector)
	if err != nil {
		return nil, fmt.Errorf("parsing virtualNodeSelector: %w", err)
	}
	if opts.Exclusions == nil {
		logger.Info("No exclusion store: no pod will be moved")
	}
	return &RecreateUnschedulable{
		logger: logger, handle: handle, args: a, opts: opts, podFilter: filter, virtualNodes: nodes,
		selection: selection{grace: a.UnschedulableGracePeriod.Duration, maxPending: a.MaxPendingTime.Duration},
	}, nil
}

// Name returns PluginName.
func (p *RecreateUnschedulable) Name() string {
	return PluginName
}

// candidate is a pod to move off its virtual node, with the reason (short, for the
// eviction) and its detail (for Events and logs).
type candidate struct {
	pod            *v1.Pod
	reason, detail string
}

// Deschedule moves the selected pods of the virtual nodes among nodes, oldest first,
// until the descheduler's total eviction limit is reached.
func (p *RecreateUnschedulable) Deschedule(ctx context.Context, nodes []*v1.Node) *frameworktypes.Status {
	logger := p.logger.WithValues("ExtensionPoint", frameworktypes.DescheduleExtensionPoint)
	ctx = klog.NewContext(ctx, logger)
	now := p.opts.Clock.Now()
	var cands []candidate
	for _, node := range nodes {
		if !p.virtualNodes.Matches(labels.Set(node.Labels)) {
			continue
		}
		pods, live, err := p.sandboxPods(ctx, node.Name)
		if !live && err == nil {
			pods, err = podutil.ListAllPodsOnANode(node.Name, p.handle.GetPodsAssignedToNodeFunc(), p.podFilter)
		}
		if err != nil {
			return &frameworktypes.Status{Err: fmt.Errorf("listing the pods of node %s: %w", node.Name, err)}
		}
		for _, pod := range pods {
			if reason, detail, ok := p.selection.why(pod, now); ok {
				cands = append(cands, candidate{pod: pod, reason: reason, detail: detail})
			}
		}
	}
	sort.SliceStable(cands, func(i, j int) bool {
		return cands[i].pod.CreationTimestamp.Before(&cands[j].pod.CreationTimestamp)
	})
	for _, c := range cands {
		err := p.move(ctx, c, now)
		var total *evictions.EvictionTotalLimitError
		switch {
		case errors.As(err, &total):
			logger.V(2).Info("Total eviction limit reached", "pod", klog.KObj(c.pod))
			return nil
		case err != nil:
			logger.Error(err, "Moving pod off its virtual node", "pod", klog.KObj(c.pod), "node", c.pod.Spec.NodeName)
		}
	}
	return nil
}

// move dispatches a candidate: a controller's pod gets an exclusion record and an
// eviction, a bare pod is re-created.
func (p *RecreateUnschedulable) move(ctx context.Context, c candidate, now time.Time) error {
	if owner := metav1.GetControllerOf(c.pod); owner != nil {
		return p.exclude(ctx, c, *owner, now)
	}
	return p.recreate(ctx, c, now)
}

// limit returns the re-creation cap.
func (p *RecreateUnschedulable) limit() int {
	return int(*p.args.MaxRecreations)
}

// ttl returns how long exclusions last.
func (p *RecreateUnschedulable) ttl() time.Duration {
	return p.args.ExclusionTTL.Duration
}
