package recreateunschedulable

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/klog/v2"
)

// In dry-run mode upstream hands plugins a sandbox: a fake clientset whose tracker is
// fed by the real informers' event handlers, and informers over that fake clientset.
// Upstream v0.36 starts and syncs the sandbox's informers before the real ones feed
// the tracker, so the first cycle of a run-once dry run sees no nodes or pods, or some
// of them (kubernetes-sigs/descheduler#1917): it skips the cycle ("requires >=2
// nodes") or reports that nothing would move.
//
// The plugin is built before those informers start, so it fills the tracker itself
// from the real cluster (primeSandbox): the sandbox's informers then list a complete
// cluster when they sync, and the first cycle sees it. The real informers' later adds
// of the same objects are ignored upstream (AlreadyExists), their updates and deletes
// apply as usual. An object that changed between the two lists is stale in the
// sandbox until its next change, so the plugin decides from live pods (sandboxPods),
// which it also writes into the tracker for the sandbox's evictor to act on.

// sandboxTracker returns the object tracker behind a dry run's fake clientset, or nil
// when cs is not one (a real run, or upstream changed how dry runs work).
func sandboxTracker(cs kubernetes.Interface) clienttesting.ObjectTracker {
	if t, ok := cs.(interface {
		Tracker() clienttesting.ObjectTracker
	}); ok {
		return t.Tracker()
	}
	return nil
}

// primeSandbox copies what upstream's sandbox mirrors (nodes, pods, namespaces,
// priority classes, PodDisruptionBudgets, claims) from live into tracker.
func primeSandbox(ctx context.Context, live kubernetes.Interface, tracker clienttesting.ObjectTracker) (int, error) {
	all := metav1.ListOptions{}
	lists := []func() (runtime.Object, error){
		func() (runtime.Object, error) { return live.CoreV1().Nodes().List(ctx, all) },
		func() (runtime.Object, error) { return live.CoreV1().Namespaces().List(ctx, all) },
		func() (runtime.Object, error) { return live.CoreV1().Pods(metav1.NamespaceAll).List(ctx, all) },
		func() (runtime.Object, error) {
			return live.CoreV1().PersistentVolumeClaims(metav1.NamespaceAll).List(ctx, all)
		},
		func() (runtime.Object, error) { return live.SchedulingV1().PriorityClasses().List(ctx, all) },
		func() (runtime.Object, error) {
			return live.PolicyV1().PodDisruptionBudgets(metav1.NamespaceAll).List(ctx, all)
		},
	}
	n := 0
	for _, list := range lists {
		obj, err := list()
		if err != nil {
			return n, err
		}
		items, err := meta.ExtractList(obj)
		if err != nil {
			return n, err
		}
		for _, item := range items {
			if acc, err := meta.Accessor(item); err == nil {
				acc.SetManagedFields(nil) // as upstream's informers trim them
			}
			if err := tracker.Add(item); err != nil && !apierrors.IsAlreadyExists(err) {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// sandboxPods returns, in dry-run mode with a live client, the pods the live cluster
// has on node, written into the sandbox's tracker (added, or replacing a stale copy)
// so that the sandbox's evictor finds them. ok is false outside that mode: the caller
// reads the handle's pod cache, as in a real run.
func (p *RecreateUnschedulable) sandboxPods(ctx context.Context, node string) (pods []*v1.Pod, ok bool, err error) {
	tracker := sandboxTracker(p.handle.ClientSet())
	if !p.opts.DryRun || p.opts.Live == nil || tracker == nil {
		return nil, false, nil
	}
	list, err := p.opts.Live.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String(),
	})
	if err != nil {
		return nil, true, fmt.Errorf("dry run: listing the pods of node %s: %w", node, err)
	}
	gvr := v1.SchemeGroupVersion.WithResource("pods")
	for i := range list.Items {
		pod := &list.Items[i]
		if pod.Spec.NodeName != node || !p.podFilter(pod) {
			continue
		}
		pod.ManagedFields = nil
		err := tracker.Add(pod)
		if apierrors.IsAlreadyExists(err) {
			err = tracker.Update(gvr, pod, pod.Namespace)
		}
		if err != nil {
			return nil, true, fmt.Errorf("dry run: copying pod %s into the sandbox: %w", klog.KObj(pod), err)
		}
		pods = append(pods, pod)
	}
	return pods, true, nil
}
