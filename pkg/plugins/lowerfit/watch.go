package lowerfit

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
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
	factory := tensileinformers.NewSharedInformerFactory(client, 0)
	inf := factory.Tensile().V1alpha1().ClusterSummaries().Informer()
	if _, err := inf.AddEventHandler(pl.summaryHandler(logger)); err != nil {
		return fmt.Errorf("watching cluster summaries: %w", err)
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
	period := max(pl.args.ReservationTTL.Duration/4, time.Second)
	go wait.UntilWithContext(ctx, func(context.Context) {
		if n := pl.store.expire(); n > 0 {
			logger.V(2).Info("Expired reservations past their TTL", "nodes", n)
		}
	}, period)
	return nil
}

// summaryHandler keeps the store in step with the ClusterSummary informer.
func (pl *Plugin) summaryHandler(logger klog.Logger) cache.ResourceEventHandler {
	set := func(obj any) {
		if cs, ok := obj.(*v1alpha1.ClusterSummary); ok && pl.store.heartbeat(cs.Name, cs.Status.UpdateTime.Time, cs.Status.ContentHash) {
			return
		}
		ix, err := indexFromObject(obj)
		if err != nil {
			logger.Error(err, "Ignoring malformed ClusterSummary")
			return
		}
		pl.store.setSummary(ix)
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

// podHandler releases reservations as upper pods show their fate below.
func (pl *Plugin) podHandler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj any) {
			if p, ok := obj.(*corev1.Pod); ok {
				pl.store.observePod(p)
			}
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				pl.store.release(p.UID)
			}
		},
	}
}

// summaryFromObject returns the typed summary of an informer object: the plugin's own
// informer is typed (a copy is returned: the informer's object is shared); the
// scheduler's events about a custom resource come from its dynamic informer, as
// unstructured objects, and are converted.
func summaryFromObject(obj any) (*v1alpha1.ClusterSummary, error) {
	if cs, ok := obj.(*v1alpha1.ClusterSummary); ok {
		return cs.DeepCopy(), nil
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("unexpected object %T", obj)
	}
	cs := &v1alpha1.ClusterSummary{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, cs); err != nil {
		return nil, fmt.Errorf("decoding ClusterSummary %s: %w", u.GetName(), err)
	}
	return cs, nil
}

// indexFromObject compiles an informer object. The object's name is the virtual
// node's, whatever the status says.
func indexFromObject(obj any) (*capacity.Index, error) {
	cs, err := summaryFromObject(obj)
	if err != nil {
		return nil, err
	}
	cs.Status.VirtualNode = cs.Name
	return capacity.NewIndex(&cs.Status), nil
}
