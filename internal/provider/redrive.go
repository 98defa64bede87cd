package provider

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// Event reasons of the redrive path.
const (
	// ReasonLowerUnavailable: a create or update could not reach the lower cluster, or
	// it answered with an error that may pass (an outage, 429, 5xx, a timeout); the node
	// tries again until it succeeds.
	ReasonLowerUnavailable = "LowerUnavailable"
	// ReasonProviderFailed: the lower cluster refused the pod for good (invalid there,
	// or forbidden by its admission), as virtual-kubelet names such a failure.
	ReasonProviderFailed = "ProviderFailed"
	// ReasonPreviousPodTerminating: the lower pod of an earlier upper pod of the same
	// name still terminates; the new one is created once it is gone.
	ReasonPreviousPodTerminating = "PreviousPodTerminating"
)

// errPreviousTerminating is returned while the lower pod of an earlier upper pod of the
// same name terminates (see adopt).
var errPreviousTerminating = errors.New("the lower pod of an earlier upper pod of this name is still terminating")

// settle decides what virtual-kubelet sees of a create or update error. It sees none:
// virtual-kubelet turns any error into phase Failed for restartPolicy Never pods (a
// Job's backoffLimit burnt on a lower blip) and, with SkipDownwardAPIResolution, writes
// that status into its informer's own pod object. Instead a permanent refusal fails the
// pod here, on a copy, with the lower message (fail), and anything else is retried by
// the node itself, with capped backoff, until it succeeds (redrive).
func (p *Provider) settle(ctx context.Context, op string, upper *corev1.Pod, err error) error {
	key := podKey(upper.Namespace, upper.Name)
	if err == nil {
		p.redrive.Forget(key)
		p.redriving.Delete(key)
		return nil
	}
	if permanent(err) {
		p.redrive.Forget(key)
		p.redriving.Delete(key)
		p.fail(ctx, upper, op, err)
		return nil
	}
	if _, again := p.redriving.Swap(key, upper.UID); !again {
		if errors.Is(err, errPreviousTerminating) {
			p.cfg.Recorder.Eventf(upper, corev1.EventTypeNormal, ReasonPreviousPodTerminating, "%v", err)
		} else {
			p.cfg.Recorder.Eventf(upper, corev1.EventTypeWarning, ReasonLowerUnavailable,
				"Could not %s the pod in the lower cluster, trying again until it can: %v", op, err)
		}
	}
	klog.FromContext(ctx).V(2).Info("Retrying pod later", "pod", key, "operation", op, "err", err.Error())
	p.redrive.AddRateLimited(key)
	return nil
}

// permanent reports whether the lower cluster refused a pod in a way no retry fixes: the
// pod is invalid there, or its admission forbids it (a policy; see passingForbidden for
// the refusals that pass).
func permanent(err error) bool {
	switch {
	case errdefs.IsInvalidInput(err), apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return true
	case apierrors.IsForbidden(err):
		msg := err.Error()
		for _, passing := range passingForbidden {
			if strings.Contains(msg, passing) {
				return false
			}
		}
		return true
	}
	return false
}

// passingForbidden are the parts of Forbidden messages that a retry may see pass: a
// quota that may free up, our own missing RBAC, and the ServiceAccount admission's
// refusal while the lower namespace's default ServiceAccount is not made yet (the lower
// controller manager makes it right after the namespace, or once it runs again).
var passingForbidden = []string{
	"exceeded quota", "cannot create resource", "cannot update resource", "cannot get resource",
	"error looking up service account",
}

// fail reports a permanent refusal as a kubelet reports a pod it rejects, on a copy:
// a restartPolicy Never pod fails, another stays Pending with the reason (it may be
// changed, and an update is tried again); one Event either way. A running pod whose
// update was refused keeps running: only the Event tells.
func (p *Provider) fail(ctx context.Context, upper *corev1.Pod, op string, err error) {
	if upper.Status.Reason == ReasonProviderFailed && upper.Status.Message == err.Error() {
		return
	}
	p.cfg.Recorder.Eventf(upper, corev1.EventTypeWarning, ReasonProviderFailed, "The lower cluster refused to %s the pod: %v", op, err)
	if op != "create" {
		return
	}
	st := *upper.Status.DeepCopy()
	st.Phase = corev1.PodPending
	if upper.Spec.RestartPolicy == corev1.RestartPolicyNever {
		st.Phase = corev1.PodFailed
	}
	st.Reason, st.Message = ReasonProviderFailed, err.Error()
	_ = p.publish(ctx, upper, st) // a failed write is logged; the Event above says why
}

// redriveWorker creates or updates again the pods whose last try failed on a passing
// error, until each succeeds, is refused for good, or is gone (virtual-kubelet takes
// over a deleted pod). updatePod creates the lower pod when it does not exist yet.
func (p *Provider) redriveWorker(ctx context.Context) {
	for {
		key, quit := p.redrive.Get()
		if quit {
			return
		}
		func() {
			defer p.redrive.Done(key)
			ns, name, _ := strings.Cut(key, "/")
			upper, err := p.cfg.UpperPods.Pods(ns).Get(name)
			if err != nil || upper.DeletionTimestamp != nil || !p.redrivesUID(key, upper.UID) {
				p.redrive.Forget(key)
				p.redriving.Delete(key)
				return
			}
			start := time.Now()
			err = p.updatePod(ctx, upper)
			observeOp("redrive", err, start)
			_ = p.settle(ctx, "create or update", upper, err) // the first failure's Event stands
		}()
	}
}

// redrivesUID reports whether the pod being redriven under key is the one with uid (not
// an earlier pod of the same name).
func (p *Provider) redrivesUID(key string, uid types.UID) bool {
	v, ok := p.redriving.Load(key)
	return ok && v.(types.UID) == uid
}

// Default backoff of the redrive queue and of virtual-kubelet's queues
// (Config.RetryBaseDelay, Config.RetryMaxDelay). The cap bounds how long after a lower
// outage ends the node resumes a pod's work: 20 s keeps that within the 30 s the fault
// suite asks for, and costs one request per pod every 20 s against a dead lower API
// server (client-go's reflectors back off to 30 s the same way).
const (
	DefaultRetryBaseDelay = 100 * time.Millisecond
	DefaultRetryMaxDelay  = 20 * time.Second
)

// newRedriveQueue is the queue of pods to create or update again: backoff per pod from
// base, capped at limit, so work resumes within limit of an outage's end. Each retry
// counts in workqueue_retries_total{name="pod_redrive"}.
func newRedriveQueue(base, limit time.Duration) workqueue.TypedRateLimitingInterface[string] {
	return workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](base, limit),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "pod_redrive"})
}

// runRedrive runs the redrive workers until ctx ends.
func (p *Provider) runRedrive(ctx context.Context) {
	for range 2 {
		go wait.UntilWithContext(ctx, p.redriveWorker, time.Second)
	}
	<-ctx.Done()
	p.redrive.ShutDown()
}

// releaseGone forgets the dependencies and views of pods that are gone above without
// DeletePod (force-deleted during a create, or after a failed one), so their Secret and
// ConfigMap copies are removed below and nothing is kept for them.
func (p *Provider) releaseGone() {
	gone := map[types.NamespacedName]bool{}
	for _, d := range p.deps {
		for _, pod := range d.Tracked() {
			if known, ok := gone[pod]; ok && !known {
				continue
			}
			_, err := p.cfg.UpperPods.Pods(pod.Namespace).Get(pod.Name)
			gone[pod] = apierrors.IsNotFound(err)
		}
	}
	p.views.Range(func(k, _ any) bool {
		ns, name, _ := strings.Cut(k.(string), "/")
		pod := types.NamespacedName{Namespace: ns, Name: name}
		if _, seen := gone[pod]; !seen {
			_, err := p.cfg.UpperPods.Pods(ns).Get(name)
			gone[pod] = apierrors.IsNotFound(err)
		}
		return true
	})
	for pod, isGone := range gone {
		if !isGone {
			continue
		}
		if _, err := p.ownedLowerPod(pod.Namespace, pod.Name); err == nil {
			continue // reconcile removes the orphan first; its uses go with DeletePod or next time
		}
		p.views.Delete(pod.String())
		for _, d := range p.deps {
			d.Release(pod)
		}
	}
}
