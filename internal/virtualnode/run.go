package virtualnode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/node"
	"github.com/virtual-kubelet/virtual-kubelet/node/nodeutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/klog/v2"

	"github.com/tensile-kube/tensile/internal/opsserver"
	"github.com/tensile-kube/tensile/internal/provider"
	"github.com/tensile-kube/tensile/internal/reflector"
	"github.com/tensile-kube/tensile/internal/translate"
	"github.com/tensile-kube/tensile/pkg/capacity"
	"github.com/tensile-kube/tensile/pkg/generated/clientset/versioned"
)

// clusters holds what Run built from the flags.
type clusters struct {
	upperCfg, lowerCfg *rest.Config
	upper, lower       kubernetes.Interface
	owner              translate.Owner
}

// Run runs the virtual node until ctx ends. Configuration problems (flags, kubeconfigs,
// unreachable clusters) are returned before anything starts.
func Run(ctx context.Context, o *Options) error {
	c, err := connect(ctx, o)
	if err != nil {
		return err
	}
	var ready atomic.Bool
	if err := serveOps(ctx, o.MetricsBindAddress, o.Profiling, &ready); err != nil {
		return err
	}
	if !o.LeaderElect {
		return runNode(ctx, o, c, &ready)
	}
	return runElected(ctx, o, c, &ready)
}

func connect(ctx context.Context, o *Options) (*clusters, error) {
	upperCfg, err := restConfig("--kubeconfig", o.Kubeconfig, o.UpperQPS, o.UpperBurst)
	if err != nil {
		return nil, err
	}
	lowerCfg, err := restConfig("--client-kubeconfig", o.ClientKubeconfig, o.LowerQPS, o.LowerBurst)
	if err != nil {
		return nil, err
	}
	c := &clusters{upperCfg: upperCfg, lowerCfg: lowerCfg}
	if c.upper, err = kubernetes.NewForConfig(withContentType(upperCfg, o.KubeAPIContentType)); err != nil {
		return nil, err
	}
	if c.lower, err = kubernetes.NewForConfig(withContentType(lowerCfg, o.KubeAPIContentType)); err != nil {
		return nil, err
	}
	if err := reachable(ctx, "upper", upperCfg, c.upper); err != nil {
		return nil, err
	}
	if err := reachable(ctx, "lower", lowerCfg, c.lower); err != nil {
		return nil, err
	}
	id := o.UpperClusterID
	if id == "" {
		if id, err = upperClusterID(ctx, c.upper); err != nil {
			return nil, err
		}
	}
	c.owner = translate.Owner{VirtualNode: o.NodeName, UpperCluster: id}
	if c.owner.Namespaces, err = translate.ParseNamespaceMap(o.LowerNamespace, c.owner); err != nil {
		return nil, fmt.Errorf("--lower-namespace: %w", err)
	}
	return c, nil
}

// serveOps serves /metrics, /healthz and /readyz, and /debug/pprof with --profiling.
func serveOps(ctx context.Context, addr string, profiling bool, ready *atomic.Bool) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--metrics-bind-address %s: %w", addr, err)
	}
	mux := opsserver.Mux(ready.Load)
	if profiling {
		opsserver.InstallProfiling(mux)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	go func() { <-ctx.Done(); _ = srv.Close() }()
	return nil
}

// runElected runs the node only while this replica holds the node's Lease. A standby is
// ready (it serves and can take over); losing the lease ends the process, as kube
// components do, so that it restarts as a standby.
func runElected(ctx context.Context, o *Options, c *clusters, ready *atomic.Bool) error {
	id, err := leaderIdentity()
	if err != nil {
		return err
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, o.LeaderElectNamespace, "virtual-node-"+o.NodeName,
		nil, c.upper.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: id})
	if err != nil {
		return err
	}
	ready.Store(true)
	var runErr error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
		Lock: lock, ReleaseOnCancel: true, Name: "virtual-node-" + o.NodeName,
		LeaseDuration: o.LeaseDuration, RenewDeadline: o.RenewDeadline, RetryPeriod: o.RetryPeriod,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				klog.FromContext(ctx).Info("Became leader", "identity", id)
				runErr = runNode(ctx, o, c, ready)
				cancel()
			},
			OnStoppedLeading: func() {
				if ctx.Err() == nil && runErr == nil {
					runErr = errors.New("leader election lost")
				}
			},
		},
	})
	return runErr
}

func leaderIdentity() (string, error) {
	host, err := os.Hostname()
	if err != nil {
		return "", err
	}
	return host + "_" + strconv.FormatInt(time.Now().UnixNano(), 36), nil
}

// runNode wires informers, the capacity model, the provider and virtual-kubelet's node.
func runNode(ctx context.Context, o *Options, c *clusters, ready *atomic.Bool) error {
	logger := klog.FromContext(ctx).WithValues("node", o.NodeName)
	ctx = klog.NewContext(ctx, logger)
	inf := newInformers(c)
	model := capacity.NewModel(capacity.Options{IsOwn: func(p *corev1.Pod) bool { return c.owner.Owns(p) }})
	if err := feedModel(inf.lower, model); err != nil {
		return err
	}
	inf.start(ctx)
	if err := inf.wait(ctx); err != nil {
		return err
	}
	template, err := nodeTemplate(o)
	if err != nil {
		return err
	}
	np, err := provider.NewNodeProvider(ctx, provider.NodeConfig{
		Template: template, Lower: c.lower, Model: model, MinInterval: o.MinStatusInterval,
	})
	if err != nil {
		return fmt.Errorf("lower cluster: %w", err)
	}
	recorder, stopEvents := eventRecorder(c.upper, o.NodeName)
	defer stopEvents()
	reflectors, err := newReflectors(o, c, inf, recorder)
	if err != nil {
		return err
	}

	pods := newPodInformers(c.upper, o.NodeName)
	var prov *provider.Provider
	api, err := newKubeletAPI(ctx, o, c, func() *provider.Provider { return prov })
	if err != nil {
		return err
	}
	prov, err = provider.New(provider.Config{
		Owner: c.owner, Upper: c.upper, Lower: c.lower, UpperPods: pods.Core().V1().Pods().Lister(), Reflectors: reflectors,
		LowerInformers: inf.lower, LowerOwnedInformers: inf.lowerOwned, LowerEvents: inf.lowerEvents,
		Recorder: recorder, LowerServiceAccountToken: o.LowerSAToken, Workers: o.Workers,
		RetryBaseDelay: o.RetryBaseDelay, RetryMaxDelay: o.RetryMaxDelay,
	})
	if err != nil {
		return err
	}
	vp := &vkProvider{Provider: prov, kubeletAPI: api}
	api.attachRoutes(vp, pods.Core().V1().Pods().Lister())
	vk, err := newVKNode(vkNodeConfig{
		Client: c.upper, Node: np.Node().DeepCopy(), Pods: pods, Upper: inf.upper,
		Provider: vp, NodeProvider: np, Recorder: withoutProviderSuccess{recorder}, Workers: o.Workers,
		PodControllerOverrides: []func(*node.PodControllerConfig) error{perItemBackoff(o.RetryBaseDelay, o.RetryMaxDelay)},
		Serve:                  api.serve,
	})
	if err != nil {
		return err
	}
	if err := api.start(ctx); err != nil {
		return fmt.Errorf("kubelet API: %w", err)
	}
	inf.start(ctx) // informers the provider and the pod controller asked for
	if err := inf.wait(ctx); err != nil {
		return err
	}
	// What decoding the initial lists left (every lower pod in full before the transform
	// kept a few hundred bytes of each foreign one) is garbage now: hand it back to the
	// OS at once, instead of keeping it as the process's resident high-water mark until
	// the runtime's background scavenger gets to it (minutes).
	debug.FreeOSMemory()
	go prov.Run(ctx)
	go reportGauges(ctx, prov)
	go func() {
		select {
		case <-vk.Ready():
			ready.Store(true)
			logger.Info("Virtual node ready", "lower", c.lowerCfg.Host, "lowerNamespace", c.owner.Namespaces.String())
			if o.PublishSummary {
				if err := publishSummary(ctx, c, model, o.NodeName, np.LowerVersion()); err != nil && ctx.Err() == nil {
					logger.Error(err, "Publishing the capacity summary stopped")
				}
			}
		case <-ctx.Done():
		}
	}()
	if err := vk.Run(ctx); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

// perItemBackoff replaces virtual-kubelet's queue rate limiters and retry policies.
// Its default limiter, client-go's controller limiter, adds a global bucket of 10
// items/s (burst 100) to every enqueue, new pods included, which caps a burst of 1,000
// pods at ~10 pods/s whatever the clusters can do; throughput is already bounded by the
// client QPS flags, and failures still back off per item. Its default retry policy
// forgets a key for good after 20 tries (about 6.5 minutes of backoff): an upper pod
// deleted during a longer lower outage would never be deleted below. Here no queue
// gives up (retryForever), and the delays are capped at limit (--retry-max-delay).
func perItemBackoff(base, limit time.Duration) func(c *node.PodControllerConfig) error {
	return func(c *node.PodControllerConfig) error {
		limiter := func() workqueue.TypedRateLimiter[any] {
			return workqueue.NewTypedItemExponentialFailureRateLimiter[any](5*time.Millisecond, limit)
		}
		c.SyncPodsFromKubernetesRateLimiter = limiter()
		c.DeletePodsFromKubernetesRateLimiter = limiter()
		c.SyncPodStatusFromProviderRateLimiter = limiter()
		c.SyncPodsFromKubernetesShouldRetryFunc = retryForever("sync_pods_from_kubernetes", base, limit)
		c.DeletePodsFromKubernetesShouldRetryFunc = retryForever("delete_pods_from_kubernetes", base, limit)
		c.SyncPodStatusFromProviderShouldRetryFunc = retryForever("sync_pod_status_from_provider", base, limit)
		return nil
	}
}

// conflictRetryCap caps the delay of a status update that lost a resourceVersion race:
// the next try usually succeeds, and waiting long only delays the status.
const conflictRetryCap = 12800 * time.Millisecond

// retryForever is a retry policy that never abandons a key: the delay doubles from
// base up to limit. A write that lost a resourceVersion race is capped at
// conflictRetryCap instead, when that is shorter (pod statuses no longer go through
// virtual-kubelet's writer, which lost such races: the provider patches them itself, see
// docs/virtual-node.md "The status path"). Each retry is counted by queue and
// reason (tensile_virtual_node_pod_retries_total).
func retryForever(queue string, base, limit time.Duration) func(ctx context.Context, key string, timesTried int, added time.Time, err error) (*time.Duration, error) {
	return func(_ context.Context, _ string, timesTried int, _ time.Time, err error) (*time.Duration, error) {
		ceiling := limit
		if apierrors.IsConflict(err) {
			ceiling = min(limit, conflictRetryCap)
		}
		d := ceiling
		if shift := min(timesTried, 30); base<<shift < ceiling && base<<shift > 0 {
			d = base << shift
		}
		podRetries.WithLabelValues(queue, string(apierrors.ReasonForError(err))).Inc()
		return &d, nil
	}
}

var podRetries = metrics.NewCounterVec(&metrics.CounterOpts{
	Namespace: "tensile", Subsystem: "virtual_node", Name: "pod_retries_total",
	Help: "Pod work items retried by virtual-kubelet's queues (none is ever abandoned; the delay is capped at --retry-max-delay, one minute by default), by queue and the API reason of the error (empty when it is not an API error).",
}, []string{"queue", "reason"})

func init() { legacyregistry.MustRegister(podRetries) }

// vkProvider is the full virtual-kubelet provider: pods from the provider package, the
// kubelet API (logs, exec, stats, ...) from the kubelet API proxy.
type vkProvider struct {
	*provider.Provider
	*kubeletAPI
}

var _ nodeutil.Provider = (*vkProvider)(nil)

// withoutProviderSuccess drops virtual-kubelet's Normal Provider*Success events: one
// upper write per pod that says what the reflected lower events (Scheduled, Started,
// ...) already say. Its failure events (Warning) pass.
type withoutProviderSuccess struct{ record.EventRecorder }

func (r withoutProviderSuccess) Event(obj runtime.Object, eventtype, reason, message string) {
	if eventtype == corev1.EventTypeNormal && strings.HasPrefix(reason, "Provider") && strings.HasSuffix(reason, "Success") {
		return
	}
	r.EventRecorder.Event(obj, eventtype, reason, message)
}

func eventRecorder(upper kubernetes.Interface, node string) (record.EventRecorder, func()) {
	b := record.NewBroadcaster()
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: upper.CoreV1().Events(metav1.NamespaceAll)})
	return b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "virtual-node", Host: node}), b.Shutdown
}

func reportGauges(ctx context.Context, p *provider.Provider) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if pods, err := p.OwnedLowerPods(); err == nil { // counted from the cache, no copies
				provider.PodsManaged.Set(float64(len(pods)))
			}
		}
	}
}

// informerSet holds the informer factories of both clusters.
type informerSet struct {
	upper, lower, lowerOwned, lowerEvents informers.SharedInformerFactory
}

func newInformers(c *clusters) *informerSet {
	owned := c.owner.Selector().String()
	strip := informers.WithTransform(withoutManagedFields)
	return &informerSet{
		// Upper Secrets without their data: the reflector reads one whole only to write
		// its lower copy (upperTransform).
		upper: informers.NewSharedInformerFactoryWithOptions(c.upper, 0, informers.WithTransform(upperTransform)),
		// Every lower pod, for the capacity model: those not ours keep only what it reads.
		lower: informers.NewSharedInformerFactoryWithOptions(c.lower, 0, informers.WithTransform(lowerTransform(c.owner))),
		// Events of pods only: the lower cluster's node and other events are not ours.
		lowerEvents: informers.NewSharedInformerFactoryWithOptions(c.lower, 0, strip,
			informers.WithTweakListOptions(func(o *metav1.ListOptions) {
				o.FieldSelector = fields.OneTermEqualSelector("involvedObject.kind", "Pod").String()
			})),
		lowerOwned: informers.NewSharedInformerFactoryWithOptions(c.lower, 0, strip,
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = owned })),
	}
}

func (s *informerSet) start(ctx context.Context) {
	for _, f := range []informers.SharedInformerFactory{s.upper, s.lower, s.lowerOwned, s.lowerEvents} {
		f.Start(ctx.Done())
	}
}

func (s *informerSet) wait(ctx context.Context) error {
	for _, f := range []informers.SharedInformerFactory{s.upper, s.lower, s.lowerOwned, s.lowerEvents} {
		for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
			if !ok {
				return fmt.Errorf("informer cache for %v did not sync", typ)
			}
		}
	}
	return nil
}

// newReflectors builds the reflectors of what the node's pods use and of Services,
// each registering its handlers on the informers of inf (started afterwards).
func newReflectors(o *Options, c *clusters, inf *informerSet, recorder record.EventRecorder) (*reflector.Set, error) {
	return reflector.NewSet(reflector.SetConfig{
		Owner: c.owner, Recorder: recorder, SystemServices: o.ReflectSystemServices,
		Upper: inf.upper, LowerOwned: inf.lowerOwned, LowerAll: inf.lower, Lower: c.lower,
		UpperSecret: func(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
			return c.upper.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
		},
	})
}

// feedModel keeps the capacity model current from the lower node and pod informers.
func feedModel(f informers.SharedInformerFactory, m *capacity.Model) error {
	if _, err := f.Core().V1().Nodes().Informer().AddEventHandler(m.NodeHandler()); err != nil {
		return err
	}
	_, err := f.Core().V1().Pods().Informer().AddEventHandler(m.PodHandler())
	return err
}

// publishSummary writes the lower cluster's capacity summary for the multi-scheduler,
// owned by the virtual Node so it goes when the node does.
func publishSummary(ctx context.Context, c *clusters, model *capacity.Model, nodeName, lowerVersion string) error {
	node, err := c.upper.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	cs, err := versioned.NewForConfig(c.upperCfg)
	if err != nil {
		return err
	}
	p, err := capacity.NewPublisher(capacity.PublisherConfig{
		Source: model, Client: cs, VirtualNode: nodeName, LowerVersion: lowerVersion,
		Owner: &metav1.OwnerReference{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID},
	})
	if err != nil {
		return err
	}
	return p.Run(ctx)
}
