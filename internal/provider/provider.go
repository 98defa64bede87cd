// Package provider is the virtual-kubelet provider that runs a virtual node's pods in a
// lower cluster. virtual-kubelet's controllers own the upper side (watching pods bound
// to the node, writing their status, the node object and its lease); this package owns
// the lower side: it creates, updates and deletes the lower pods and the objects they
// depend on, and reports lower state back through the PodNotifier callback.
package provider

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/node"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	coordinationv1listers "k8s.io/client-go/listers/coordination/v1"
	corev1listers "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/tensile-kube/tensile/internal/reflector"
	"github.com/tensile-kube/tensile/internal/translate"
)

// Config configures a Provider.
type Config struct {
	// Owner identifies this virtual node; everything created below carries its marks.
	Owner translate.Owner
	// Upper is a client of the upper cluster (for the final delete of upper pods).
	Upper kubernetes.Interface
	// Lower is a client of the lower cluster.
	Lower kubernetes.Interface
	// UpperPods lists the upper pods bound to this node (virtual-kubelet's cache).
	UpperPods corev1listers.PodLister
	// Reflectors keep the lower copies of what pods use (and of Services); the provider
	// tracks its pods' uses on them and runs them (reflector.NewSet).
	Reflectors *reflector.Set
	// LowerInformers serves every lower pod (capacity needs them all), nodes,
	// namespaces and PriorityClasses.
	LowerInformers informers.SharedInformerFactory
	// LowerEvents serves the lower cluster's pod events.
	LowerEvents informers.SharedInformerFactory
	// LowerOwnedInformers serves the lower objects this node created (label-selected).
	LowerOwnedInformers informers.SharedInformerFactory
	// Recorder records events on upper objects.
	Recorder record.EventRecorder
	// LowerServiceAccountToken lets pods that have a service-account token above get a
	// token of the lower ServiceAccount of the same name below (translate.PodOptions).
	LowerServiceAccountToken bool
	// Workers is the number of status workers; default 8.
	Workers int
	// RetryBaseDelay and RetryMaxDelay bound the backoff of pods created or updated
	// again after a passing lower error (the redrive queue): the delay doubles from the
	// base up to the cap, so work resumes at most RetryMaxDelay after an outage ends.
	// Defaults: 100ms and one minute.
	RetryBaseDelay, RetryMaxDelay time.Duration
	// Clock tells the time of the status path (when a write the upper pod cache has not
	// shown is written again); nil means the real clock.
	Clock clock.PassiveClock
}

// Provider implements virtual-kubelet's PodLifecycleHandler and PodNotifier.
type Provider struct {
	cfg        Config
	lowerPods  corev1listers.PodLister
	priorities func(string) bool
	uses       *reflector.Dependencies           // the reflectors of what pods use, by kind
	deps       []reflector.Dependency            // the same, as a list
	anchors    coordinationv1listers.LeaseLister // our anchor Leases below (see anchor)

	// views holds, per upper pod key, the upper pod last applied below: GetPod returns it
	// so virtual-kubelet's podsEqual compares like with like and does not update the
	// lower pod on every resync.
	views sync.Map
	// waiting holds, per upper pod key, a waitingPod: a pod whose lower pod waits for
	// a dependency to exist above (see wait).
	waiting sync.Map

	queue workqueue.TypedRateLimitingInterface[string]
	// redrive holds pods to create or update again after a passing lower error, and
	// redriving their UIDs (see settle).
	redrive   workqueue.TypedRateLimitingInterface[string]
	redriving sync.Map
	status    *statusWriter // writes every upper pod status
	start     time.Time
}

var (
	_ node.PodLifecycleHandler = (*Provider)(nil)
	_ node.PodNotifier         = (*Provider)(nil)
)

// New builds a provider and registers its informer handlers. Informers must be started
// by the caller after New returns.
func New(cfg Config) (*Provider, error) {
	switch {
	case cfg.Owner.VirtualNode == "" || cfg.Owner.UpperCluster == "":
		return nil, errors.New("provider: owner is required")
	case cfg.Upper == nil || cfg.Lower == nil:
		return nil, errors.New("provider: upper and lower clients are required")
	case cfg.UpperPods == nil || cfg.LowerInformers == nil || cfg.LowerOwnedInformers == nil || cfg.LowerEvents == nil:
		return nil, errors.New("provider: listers and informer factories are required")
	case cfg.Reflectors == nil:
		return nil, errors.New("provider: reflectors are required")
	case cfg.Recorder == nil:
		return nil, errors.New("provider: an event recorder is required")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.RetryBaseDelay <= 0 {
		cfg.RetryBaseDelay = DefaultRetryBaseDelay
	}
	if cfg.RetryMaxDelay <= 0 {
		cfg.RetryMaxDelay = DefaultRetryMaxDelay
	}
	if cfg.RetryMaxDelay < cfg.RetryBaseDelay {
		return nil, fmt.Errorf("provider: the retry cap %v is below the base delay %v", cfg.RetryMaxDelay, cfg.RetryBaseDelay)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	p := &Provider{
		cfg:       cfg,
		lowerPods: cfg.LowerInformers.Core().V1().Pods().Lister(),
		uses:      &cfg.Reflectors.Dependencies,
		deps:      cfg.Reflectors.All(),
		anchors:   cfg.LowerOwnedInformers.Coordination().V1().Leases().Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "pod_status"}),
		redrive: newRedriveQueue(cfg.RetryBaseDelay, cfg.RetryMaxDelay),
		status:  newStatusWriter(cfg.Upper, cfg.Clock),
		start:   cfg.Clock.Now(),
	}
	pcs := cfg.LowerInformers.Scheduling().V1().PriorityClasses().Lister()
	p.priorities = func(name string) bool { _, err := pcs.Get(name); return err == nil }
	if _, err := cfg.LowerInformers.Core().V1().Pods().Informer().AddEventHandler(p.lowerPodHandler()); err != nil {
		return nil, err
	}
	if _, err := cfg.LowerEvents.Core().V1().Events().Informer().AddEventHandler(p.lowerEventHandler()); err != nil {
		return nil, err
	}
	return p, nil
}

// upperNamespace returns the upper namespace of a lower object of ours; ok is false
// for objects that are not ours.
func (p *Provider) upperNamespace(lower metav1.Object) (string, bool) {
	if !p.cfg.Owner.Owns(lower) {
		return "", false
	}
	return p.cfg.Owner.Namespaces.ToUpper(lower.GetNamespace())
}

// UpperName returns the namespace and name of the upper pod a lower pod of ours runs
// for; ok is false for pods that are not ours.
func (p *Provider) UpperName(lower *corev1.Pod) (types.NamespacedName, bool) {
	ns, ok := p.upperNamespace(lower)
	return types.NamespacedName{Namespace: ns, Name: lower.Name}, ok
}

// unwrap returns the object of a delete tombstone, or obj.
func unwrap(obj any) any {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return tomb.Obj
	}
	return obj
}

// Run runs the reflectors until ctx ends. Status workers start with NotifyPods.
func (p *Provider) Run(ctx context.Context) {
	p.seedUsage(ctx)
	go p.cfg.Reflectors.Run(ctx)
	go wait.UntilWithContext(ctx, p.requeueOwned, statusRecheck)
	go p.runRedrive(ctx)
	<-ctx.Done()
	p.queue.ShutDown()
}

// seedUsage records what our lower pods use before the reflectors start. Their start-up
// sweep (every copy of ours is queued) must remove only copies nobody uses, and
// virtual-kubelet re-syncs the pods, which Track their dependencies, only later. Lower
// pods whose upper pod is gone count for nothing: they are being removed.
func (p *Provider) seedUsage(ctx context.Context) {
	uppers, err := p.cfg.Upper.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.nodeName", p.cfg.Owner.VirtualNode).String(),
	})
	if err != nil {
		klog.FromContext(ctx).Error(err, "Listing upper pods to seed dependency use; copies in use may be re-created")
		return
	}
	live := make(map[string]types.UID, len(uppers.Items))
	for _, u := range uppers.Items {
		live[podKey(u.Namespace, u.Name)] = u.UID
	}
	lowers, err := p.OwnedLowerPods()
	if err != nil {
		return
	}
	for _, l := range lowers {
		key, ok := p.UpperName(l)
		if uid, found := live[key.String()]; !ok || !found || uid != translate.UpperUID(l) {
			continue
		}
		for _, u := range p.uses.Uses(translate.PodDependencies(l)) {
			u.Dependency.Track(key, u.Names)
		}
	}
}

// statusRecheck is how often every owned pod's status is checked again. virtual-kubelet
// silently drops a status notification it cannot place yet (at its start, before it
// knows the pod) and one equal to the last it received; the re-check finds upper
// statuses that fell behind, and reconcile repairs them. It writes nothing when the
// status is current.
const statusRecheck = 10 * time.Second

func (p *Provider) requeueOwned(context.Context) {
	p.releaseGone()
	p.waiting.Range(func(k, _ any) bool {
		p.queue.Add(k.(string))
		return true
	})
	pods, err := p.OwnedLowerPods()
	if err != nil {
		return
	}
	for _, l := range pods {
		if key, ok := p.UpperName(l); ok {
			p.queue.Add(key.String())
		}
	}
}
