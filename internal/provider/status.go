package provider

import (
	"context"
	"fmt"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/tensile-kube/tensile/internal/translate"
)

// NotifyPods starts the status workers, which are driven by lower pod events: no
// polling. virtual-kubelet's callback is not used: its writer sends the whole pod with
// its informer's resourceVersion, and lost that race for about one write in two under
// load; the provider writes every upper pod status itself (statusWriter). NotifyPods
// is still implemented, or virtual-kubelet would poll GetPodStatus and write statuses
// of its own.
func (p *Provider) NotifyPods(ctx context.Context, _ func(*corev1.Pod)) {
	for i := 0; i < p.cfg.Workers; i++ {
		go wait.UntilWithContext(ctx, p.statusWorker, time.Second)
	}
}

// lowerPodHandler queues the upper key of every lower pod of ours that changes.
func (p *Provider) lowerPodHandler() cache.ResourceEventHandler {
	enqueue := func(obj any) {
		pod, ok := unwrap(obj).(*corev1.Pod)
		if !ok {
			return
		}
		if key, ok := p.UpperName(pod); ok {
			p.queue.Add(key.String())
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, n any) { enqueue(n) },
		DeleteFunc: enqueue,
	}
}

func (p *Provider) statusWorker(ctx context.Context) {
	for {
		key, quit := p.queue.Get()
		if quit {
			return
		}
		if err := p.reconcile(ctx, key); err != nil {
			klog.FromContext(ctx).Error(err, "Syncing pod status", "pod", key)
			p.queue.AddRateLimited(key)
		} else {
			p.queue.Forget(key)
		}
		p.queue.Done(key)
	}
}

// reconcile brings the upper pod in line with its lower pod: reflect status, re-create a
// lower pod deleted behind our back, finish an upper pod whose lower pod is gone, and
// remove a lower pod whose upper pod no longer exists.
func (p *Provider) reconcile(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	upper, uerr := p.cfg.UpperPods.Pods(namespace).Get(name)
	if uerr != nil && !apierrors.IsNotFound(uerr) {
		return uerr
	}
	lower, lerr := p.ownedLowerPod(namespace, name)
	haveLower := lerr == nil
	if apierrors.IsNotFound(uerr) {
		p.status.forget(key)
		p.waiting.Delete(key)
		if haveLower {
			return p.removeOrphan(ctx, lower)
		}
		return nil
	}
	if haveLower && translate.UpperUID(lower) != upper.UID {
		haveLower = false // left from an earlier upper pod; CreatePod replaces it
	}
	switch {
	case upper.DeletionTimestamp != nil && !haveLower:
		return p.finishUpperPod(ctx, upper)
	case !haveLower && p.waits(upper):
		return p.createPod(ctx, upper) // its dependencies may exist by now
	case !haveLower:
		return p.recreateIfLost(ctx, upper)
	}
	if err := p.syncEphemeralAndResize(ctx, upper, lower); err != nil {
		// The status below still goes up (a refused resize shows in it); the next
		// re-check tries again.
		klog.FromContext(ctx).Error(err, "Applying ephemeral containers or resize below", "pod", key)
	}
	// Every owned pod is re-checked every statusRecheck: compare the status alone
	// (StatusOf copies nothing it does not return).
	want := translate.StatusOf(upper, lower)
	if p.status.current(upper, &want) {
		return nil
	}
	if overridesAbove(upper.Status, want) && !p.lowerReachable(ctx) {
		// The lower cache is stale while the lower API server is unreachable: writing
		// its Ready=True back would undo the upper node lifecycle's NotReady.
		klog.FromContext(ctx).V(2).Info("Lower cluster unreachable; not reasserting readiness from the cache", "pod", key)
		return nil
	}
	step := lowerStep(lower)
	if want.Phase == corev1.PodPending {
		if d := p.status.hold(key, holdFor(step)); d > 0 {
			p.queue.AddAfter(key, d) // a Running status due meanwhile is written at once
			return nil
		}
	}
	wrote, err := p.status.write(ctx, upper, want, step)
	if wrote {
		observeStatusLag(lower)
	}
	return err
}

// waits reports whether upper's lower pod waits for a dependency (see wait); a record
// left by an earlier pod of the same name does not count.
func (p *Provider) waits(upper *corev1.Pod) bool {
	v, ok := p.waiting.Load(podKey(upper.Namespace, upper.Name))
	return ok && v.(waitingPod).uid == upper.UID
}

// recreateIfLost re-creates a lower pod that was deleted out of band while the upper pod
// still says it should run. Pods never created (not in views) are left to
// virtual-kubelet, which calls CreatePod for them.
func (p *Provider) recreateIfLost(ctx context.Context, upper *corev1.Pod) error {
	if _, known := p.views.Load(podKey(upper.Namespace, upper.Name)); !known {
		return nil
	}
	if upper.Status.Phase == corev1.PodSucceeded || upper.Status.Phase == corev1.PodFailed {
		return nil
	}
	if err := p.createPod(ctx, upper); err != nil {
		return err
	}
	p.cfg.Recorder.Event(upper, corev1.EventTypeWarning, ReasonLowerRecreated,
		"The lower pod was deleted outside this virtual node; re-created it")
	return nil
}

// finishUpperPod deletes an upper pod being deleted once its lower pod is gone, as a
// kubelet does once the containers have stopped. Without it the upper pod would linger
// for its whole grace period.
func (p *Provider) finishUpperPod(ctx context.Context, upper *corev1.Pod) error {
	uid := upper.UID
	zero := int64(0)
	err := p.cfg.Upper.CoreV1().Pods(upper.Namespace).Delete(ctx, upper.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid},
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// removeOrphan deletes a lower pod of ours whose upper pod is gone, after checking the
// API server: the cache may simply not have seen a new upper pod yet.
func (p *Provider) removeOrphan(ctx context.Context, lower *corev1.Pod) error {
	key, ok := p.UpperName(lower)
	if !ok {
		return nil
	}
	live, err := p.cfg.Upper.CoreV1().Pods(key.Namespace).Get(ctx, key.Name, metav1.GetOptions{})
	switch {
	case err == nil && live.UID == translate.UpperUID(lower) && live.Spec.NodeName == p.cfg.Owner.VirtualNode:
		return nil
	case err != nil && !apierrors.IsNotFound(err):
		return err
	}
	uid := lower.UID
	err = p.cfg.Lower.CoreV1().Pods(lower.Namespace).Delete(ctx, lower.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("removing orphaned lower pod %s/%s: %w", lower.Namespace, lower.Name, err)
	}
	return nil
}

// lowerEventHandler reflects lower events about our pods onto the upper pods. The
// recorder's spam filter rate-limits them per object.
func (p *Provider) lowerEventHandler() cache.ResourceEventHandler {
	var reflect func(obj any, retries int)
	reflect = func(obj any, retries int) {
		ev, ok := obj.(*corev1.Event)
		if !ok || ev.InvolvedObject.Kind != "Pod" || eventTime(ev).Before(p.start) {
			return
		}
		ns, ok := p.cfg.Owner.Namespaces.ToUpper(ev.InvolvedObject.Namespace)
		if !ok {
			return
		}
		lower, err := p.ownedLowerPod(ns, ev.InvolvedObject.Name)
		if errdefs.IsNotFound(err) && retries > 0 {
			// Events and pods come on separate watches: the event of a pod just created
			// (Scheduled) may arrive before the pod does. Look again shortly.
			time.AfterFunc(eventPodWait, func() { reflect(obj, retries-1) })
			return
		}
		if err != nil || lower.UID != ev.InvolvedObject.UID {
			return
		}
		upper, err := p.cfg.UpperPods.Pods(ns).Get(lower.Name)
		if err != nil || upper.UID != translate.UpperUID(lower) {
			return
		}
		p.cfg.Recorder.Event(upper, ev.Type, ev.Reason, ev.Message)
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { reflect(obj, eventPodRetries) },
		UpdateFunc: func(o, n any) {
			oe, ok1 := o.(*corev1.Event)
			ne, ok2 := n.(*corev1.Event)
			if ok1 && ok2 && ne.Count != oe.Count {
				reflect(n, eventPodRetries)
			}
		},
	}
}

// An event whose pod is not in the lower pod cache yet is looked at again up to
// eventPodRetries times, eventPodWait apart; then it is about no pod of ours.
const (
	eventPodRetries = 5
	eventPodWait    = 500 * time.Millisecond
)

func eventTime(ev *corev1.Event) time.Time {
	switch {
	case !ev.LastTimestamp.IsZero():
		return ev.LastTimestamp.Time
	case !ev.EventTime.IsZero():
		return ev.EventTime.Time
	}
	return ev.CreationTimestamp.Time
}
