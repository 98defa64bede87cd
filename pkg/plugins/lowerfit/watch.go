package lowerfit

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
	"github.com/tensile-kube/tensile/pkg/capacity"
	"github.com/tensile-kube/tensile/pkg/generated/clientset/versioned"
	tensileinformers "github.com/tensile-kube/tensile/pkg/generated/informers/externalversions"
)

// cacheSyncTimeout bounds how long New waits for the first list of summaries; pods
// scheduled before then are turned away with "no summary" and retried on the
// ClusterSummary add events that follow.
const cacheSyncTimeout = 10 * time.Second

// watch starts the ClusterSummary informer and registers the pod handlers that release
// reservations, then expires reservations past their TTL until ctx ends.
func (pl *Plugin) watch(ctx context.Context, client versioned.Interface) error {
	logger := klog.FromContext(ctx).WithValues("plugin", Name)
	factory, inf, err := pl.summaryInformer(logger, client)
	if err != nil {
		return err
	}
	if pl.handle.SharedInformerFactory() != nil {
		pods := pl.handle.SharedInformerFactory().Core().V1().Pods().Informer()
		if _, err := pods.AddEventHandler(pl.podHandler()); err != nil {
			return fmt.Errorf("watching pods: %w", err)
		}
	}
	factory.Start(ctx.Done())
	syncCtx, cancel := context.WithTimeout(ctx, cacheSyncTimeout)
	defer cancel()
	if !cache.WaitForCacheSync(syncCtx.Done(), inf.HasSynced) {
		logger.Info("ClusterSummary cache not synced yet; continuing", "timeout", cacheSyncTimeout)
	}
	go pl.runBackoff(klog.NewContext(ctx, logger))
	period := max(pl.args.ReservationTTL.Duration/4, time.Second)
	go wait.UntilWithContext(ctx, func(context.Context) {
		if n := pl.store.expire(); n > 0 {
			logger.V(2).Info("Expired reservations past their TTL", "nodes", n)
		}
	}, period)
	return nil
}

// summaryInformer builds the ClusterSummary informer: its cache keeps compiled
// summaries (compileSummary) and its handler feeds the store.
func (pl *Plugin) summaryInformer(logger klog.Logger, client versioned.Interface) (tensileinformers.SharedInformerFactory, cache.SharedIndexInformer, error) {
	factory := tensileinformers.NewSharedInformerFactory(client, 0)
	inf := factory.Tensile().V1alpha1().ClusterSummaries().Informer()
	if err := inf.SetTransform(pl.compileSummary); err != nil {
		return nil, nil, fmt.Errorf("watching cluster summaries: %w", err)
	}
	if _, err := inf.AddEventHandler(pl.summaryHandler(logger)); err != nil {
		return nil, nil, fmt.Errorf("watching cluster summaries: %w", err)
	}
	return factory, inf, nil
}

// summaryHandler keeps the store in step with the ClusterSummary informer, and
// activates the waiting pods when a summary may let one of them in: a new summary, a
// change of content, or a heartbeat that revives a stale one. A heartbeat of a fresh
// summary (every 10 s per virtual node) changes nothing for them.
func (pl *Plugin) summaryHandler(logger klog.Logger) cache.ResourceEventHandler {
	set := func(obj any) {
		obj, _ = pl.compileSummary(obj) // the informer's transform did it already
		c, ok := obj.(*compiledSummary)
		if !ok {
			logger.Error(fmt.Errorf("unexpected object %T", obj), "Ignoring ClusterSummary event")
			return
		}
		ix := c.index
		held, had := pl.store.updatedAt(ix.VirtualNode)
		if pl.store.heartbeat(ix.VirtualNode, ix.UpdateTime, ix.ContentHash) {
			if had && ix.UpdateTime.After(held) && pl.now().Sub(held) > pl.args.MaxSummaryAge.Duration {
				pl.activateWaiting(logger, ix.VirtualNode, "stale summary refreshed")
			}
			return
		}
		if pl.store.setSummary(ix) {
			pl.activateWaiting(logger, ix.VirtualNode, "summary changed")
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    set,
		UpdateFunc: func(_, obj any) { set(obj) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				pl.store.deleteSummary(t.Key)
				return
			}
			if m, err := meta.Accessor(obj); err == nil {
				pl.store.deleteSummary(m.GetName())
			}
		},
	}
}

// activateWaiting moves the waiting pods this plugin turned away back to the
// scheduler's active queue, those in backoff when it ends (see waiting).
func (pl *Plugin) activateWaiting(logger klog.Logger, node, why string) {
	pl.activate(logger.WithValues("clusterSummary", node), pl.waiting.changed(pl.now()), why)
}

// activate hands pods to the scheduling queue.
func (pl *Plugin) activate(logger klog.Logger, pods map[string]*corev1.Pod, why string) {
	if len(pods) == 0 {
		return
	}
	logger.V(4).Info("Activating waiting pods", "reason", why, "pods", len(pods))
	pl.handle.Activate(logger, pods)
}

// runBackoff activates the pods whose activation a summary change deferred to the
// end of their backoff, at the earliest such end, until ctx ends. One timer serves
// all pods; the waiting set kicks the loop when the earliest end moves earlier.
func (pl *Plugin) runBackoff(ctx context.Context) {
	logger := klog.FromContext(ctx)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var fire <-chan time.Time
		if wake := pl.waiting.nextWake(); !wake.IsZero() {
			timer.Reset(max(wake.Sub(pl.now()), 0))
			fire = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-pl.waiting.kick:
		case <-fire:
			pl.activate(logger, pl.waiting.expired(pl.now()), "backoff ended")
		}
	}
}

// podHandler releases reservations as upper pods show their fate below.
func (pl *Plugin) podHandler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj any) {
			if p, ok := obj.(*corev1.Pod); ok {
				if p.Spec.NodeName != "" {
					pl.waiting.remove(p.UID) // bound, by this scheduler or another
				}
				pl.store.observePod(p)
			}
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				pl.waiting.remove(p.UID)
				pl.store.release(p.UID)
			}
		},
	}
}

// compiledSummary is what the plugin's informer keeps of a ClusterSummary: the
// object's identity and its compiled index. The informer's transform replaces each
// object with it before the cache stores it, so the plugin holds each summary once,
// compiled (about 18 KB at 1,000 lower nodes), rather than as the decoded object too
// (about 42 KB more, its slot amounts as maps).
type compiledSummary struct {
	metav1.TypeMeta
	metav1.ObjectMeta
	index *capacity.Index
}

// DeepCopyObject copies the identity and shares the index, which is immutable.
func (c *compiledSummary) DeepCopyObject() runtime.Object {
	out := *c
	c.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	return &out
}

// compileSummary is the ClusterSummary informer's transform. A summary whose content
// hash equals the held one's (a heartbeat, most updates) reuses the held compiled
// groups. Anything else passes unchanged, a compiledSummary included: transforms
// must be idempotent.
func (pl *Plugin) compileSummary(obj any) (any, error) {
	cs, ok := obj.(*v1alpha1.ClusterSummary)
	if !ok {
		return obj, nil
	}
	ix := pl.store.sameContent(cs.Name, cs.Status.ContentHash)
	if ix != nil {
		ix = ix.WithUpdateTime(cs.Status.UpdateTime.Time)
	} else {
		ix = indexFromSummary(cs)
	}
	return &compiledSummary{
		TypeMeta:   cs.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{Name: cs.Name, Namespace: cs.Namespace, UID: cs.UID, ResourceVersion: cs.ResourceVersion},
		index:      ix,
	}, nil
}

// indexFromSummary compiles a summary from the informer. The object's name is the
// virtual node's, whatever the status says. The informer's object is shared: the
// index keeps its label maps and policy lists, which neither side ever modifies, and
// nothing is written back to it (hence the shallow copy of the status).
func indexFromSummary(cs *v1alpha1.ClusterSummary) *capacity.Index {
	st := cs.Status
	st.VirtualNode = cs.Name
	return capacity.NewIndex(&st)
}
