package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"

	"github.com/tensile-kube/tensile/internal/reflector"
	"github.com/tensile-kube/tensile/internal/translate"
	"github.com/tensile-kube/tensile/pkg/vnodeident"
)

// Event reasons recorded on upper pods.
const (
	ReasonForeignPod      = "ForeignLowerPod"
	ReasonLowerRecreated  = "LowerPodRecreated"
	ReasonDependencyError = "LowerDependencyFailed"
	// ReasonDependencyNotFound: a PVC or ServiceAccount the pod needs is missing above.
	ReasonDependencyNotFound = "DependencyNotFound"
	// ReasonDependencyReplacing: the lower copy of a dependency is being replaced (it
	// mirrored an earlier upper object of the name); the pod waits until it is.
	ReasonDependencyReplacing = "LowerCopyReplacing"
	// ReasonDaemonSetPod: a DaemonSet's pod that did not opt in to virtual nodes is refused.
	ReasonDaemonSetPod = "DaemonSetPodRefused"
	// ReasonForeignObject: a missing optional ConfigMap or Secret would be replaced by a
	// lower object of that name that is not ours (the reflector's reason for such objects).
	ReasonForeignObject = reflector.ReasonForeignObject
)

// The reasons a kubelet gives for missing ConfigMaps and Secrets, which virtual-kubelet's
// e2e suite waits for. They are the strings of virtual-kubelet's internal/podutils,
// which cannot be imported.
const (
	ReasonMandatoryConfigMapNotFound = "MandatoryConfigMapNotFound"
	ReasonMandatorySecretNotFound    = "MandatorySecretNotFound"
	ReasonOptionalConfigMapNotFound  = "OptionalConfigMapNotFound"
	ReasonOptionalSecretNotFound     = "OptionalSecretNotFound"
)

func podKey(namespace, name string) string { return namespace + "/" + name }

// CreatePod creates the pod's dependencies and then the pod in the lower cluster. It is
// idempotent: after a restart it adopts the lower pod it created before (same upper
// UID), replaces one left from an earlier upper pod of the same name, and never touches
// a lower pod that is not ours.
func (p *Provider) CreatePod(ctx context.Context, upper *corev1.Pod) error {
	start := time.Now()
	err := p.createPod(ctx, upper)
	observeOp("create", err, start)
	return p.settle(ctx, "create", upper, err)
}

func (p *Provider) createPod(ctx context.Context, upper *corev1.Pod) error {
	if refusedDaemonSetPod(upper) {
		return p.refuse(ctx, upper, ReasonDaemonSetPod, fmt.Sprintf(
			"Pods of DaemonSets do not run in the lower cluster through virtual node %s: one would run below with the DaemonSet's host access, in the lower namespace of the same name. Keep the DaemonSet off virtual nodes (the webhook does), or opt in with the pod-template annotation %s: %s",
			p.cfg.Owner.VirtualNode, vnodeident.AnnotationDaemonSetPods, vnodeident.ValueAllow))
	}
	desired, err := p.lowerPod(upper)
	if err != nil {
		return err
	}
	if err := p.cfg.Reflectors.EnsureNamespace(ctx, upper.Namespace); err != nil {
		return err
	}
	key := podKey(upper.Namespace, upper.Name)
	blocked, events, err := p.checkUpperDependencies(ctx, upper, translate.PodDependencies(desired))
	if err != nil {
		return err
	}
	if blocked == "" || p.wait(ctx, upper, blocked) {
		for _, e := range events {
			p.cfg.Recorder.Event(upper, corev1.EventTypeWarning, e.reason, e.msg)
		}
	}
	if blocked != "" {
		return nil
	}
	ref, err := p.anchor(ctx, desired.Namespace)
	if err == nil {
		desired.OwnerReferences = []metav1.OwnerReference{ref}
		err = p.ensureDependencies(ctx, upper.Namespace, desired)
	}
	if err != nil {
		if reason, ok := waitReason(err); ok {
			// A lower object of ours cannot be made yet: wait, as for a missing one.
			if p.wait(ctx, upper, err.Error()) {
				p.cfg.Recorder.Eventf(upper, corev1.EventTypeWarning, reason, "The pod waits: %v", err)
			}
			return nil
		}
		p.cfg.Recorder.Eventf(upper, corev1.EventTypeWarning, ReasonDependencyError, "%v", err)
		return err
	}
	p.waiting.Delete(key)
	_, err = p.cfg.Lower.CoreV1().Pods(desired.Namespace).Create(ctx, desired, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		var live *corev1.Pod
		live, err = p.cfg.Lower.CoreV1().Pods(desired.Namespace).Get(ctx, upper.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			err = fmt.Errorf("lower pod %s/%s vanished while being created; retrying", desired.Namespace, upper.Name)
		case err == nil:
			err = p.adopt(ctx, upper, live)
		}
	}
	if err != nil {
		return err
	}
	p.views.Store(key, upper.DeepCopy())
	return nil
}

// waitReason tells the dependency errors a pod waits out (with the reason of its
// Event) from those that fail its create: a foreign lower object in the way, or an old
// copy still being deleted (a claim that mirrored an earlier upper claim of the name).
func waitReason(err error) (string, bool) {
	switch {
	case errors.Is(err, reflector.ErrForeign):
		return ReasonForeignObject, true
	case errors.Is(err, reflector.ErrReplacing):
		return ReasonDependencyReplacing, true
	}
	return "", false
}

// wait keeps upper Pending without a lower pod, as a kubelet keeps a pod whose Secret is
// missing: its containers wait with CreateContainerConfigError and the reason. The
// pod is not failed (virtual-kubelet would fail a restartPolicy Never pod on a create
// error, burning a Job's backoffLimit): reconcile tries again every statusRecheck, and
// the pod starts once its dependencies exist above. It reports whether the pod did not
// wait for this reason before (its Events are due), deciding atomically: virtual-kubelet
// and reconcile may try the same pod at once.
func (p *Provider) wait(ctx context.Context, upper *corev1.Pod, why string) (fresh bool) {
	prev, loaded := p.waiting.Swap(podKey(upper.Namespace, upper.Name), waitingPod{uid: upper.UID, why: why})
	// A write that fails is tried again with the next re-check of the waiting pod.
	_ = p.publish(ctx, upper, translate.WaitingStatus(upper, translate.ReasonCreateContainerConfigError, why))
	w, _ := prev.(waitingPod)
	return !loaded || w.uid != upper.UID || w.why != why
}

// publish writes a status of our own for a pod that has no lower pod to take it from,
// unless the upper pod already has it. A failed write is logged in one line.
func (p *Provider) publish(ctx context.Context, upper *corev1.Pod, st corev1.PodStatus) error {
	_, err := p.status.write(ctx, upper, st, stepNoLowerPod)
	if err != nil {
		klog.FromContext(ctx).Error(err, "Writing a pod status", "pod", klog.KObj(upper), "phase", st.Phase, "reason", st.Reason)
	}
	return err
}

// refusedDaemonSetPod reports whether pod belongs to a DaemonSet that did not opt in to
// running on virtual nodes (vnodeident.AnnotationDaemonSetPods on its pod template).
func refusedDaemonSetPod(pod *corev1.Pod) bool {
	owner := metav1.GetControllerOf(pod)
	return owner != nil && owner.Kind == "DaemonSet" && strings.HasPrefix(owner.APIVersion, "apps/") &&
		!vnodeident.DaemonSetPodsAllowed(pod.Annotations)
}

// refuse fails upper without a lower pod, as a kubelet fails a pod it does not admit
// (phase Failed with a reason), with one Event. Its controller sees why; a DaemonSet
// controller replaces it with backoff. A failed status write is returned, so that the
// create is tried again.
func (p *Provider) refuse(ctx context.Context, upper *corev1.Pod, reason, msg string) error {
	if upper.Status.Phase == corev1.PodFailed && upper.Status.Reason == reason {
		return nil
	}
	p.cfg.Recorder.Event(upper, corev1.EventTypeWarning, reason, msg)
	st := *upper.Status.DeepCopy()
	st.Phase, st.Reason, st.Message = corev1.PodFailed, reason, msg
	return p.publish(ctx, upper, st)
}

// adopt resolves a name collision with live, the lower pod of upper's name.
func (p *Provider) adopt(ctx context.Context, upper, live *corev1.Pod) error {
	lowerNS := live.Namespace
	if !p.cfg.Owner.Owns(live) {
		msg := fmt.Sprintf("the lower cluster already has a pod %s/%s that this virtual node did not create; it is left untouched and this pod stays Pending", lowerNS, upper.Name)
		p.cfg.Recorder.Event(upper, corev1.EventTypeWarning, ReasonForeignPod, msg)
		return errdefs.AsInvalidInput(fmt.Errorf("%s", msg))
	}
	if translate.UpperUID(live) == upper.UID {
		return nil // ours already: created before a restart
	}
	// Left from an earlier upper pod of the same name (a StatefulSet's ordinal whose
	// upper pod virtual-kubelet force-deleted after its grace period): its containers
	// may still run below. Delete it with its own grace period, never force it, and
	// create the new pod only once the old one is gone, as a kubelet behind a partition
	// would: one ordinal never runs twice.
	if live.DeletionTimestamp == nil {
		uid := live.UID
		err := p.cfg.Lower.CoreV1().Pods(lowerNS).Delete(ctx, upper.Name, metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{UID: &uid},
		})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return fmt.Errorf("lower pod %s/%s: %w; this pod is created once it is gone", lowerNS, upper.Name, errPreviousTerminating)
}

func (p *Provider) lowerPod(upper *corev1.Pod) (*corev1.Pod, error) {
	return translate.PodToLower(upper, translate.PodOptions{
		Owner:                    p.cfg.Owner,
		LowerServiceAccountToken: p.cfg.LowerServiceAccountToken,
		HasPriorityClass:         p.priorities,
	})
}

// ensureDependencies records what the lower pod uses and makes each object current
// below. It reads the translated pod: what translation dropped (the upper token volume)
// is no dependency, and the lower cluster's own objects of those names must stay
// untouched.
func (p *Provider) ensureDependencies(ctx context.Context, upperNS string, pod *corev1.Pod) error {
	key := types.NamespacedName{Namespace: upperNS, Name: pod.Name}
	for _, u := range p.uses.Uses(translate.PodDependencies(pod)) {
		u.Dependency.Track(key, u.Names)
		for _, n := range sets.List(u.Names) {
			if err := u.Dependency.Ensure(ctx, upperNS, n); err != nil {
				return fmt.Errorf("%s %s/%s: %w", u.Dependency.KindName(), upperNS, n, err)
			}
		}
	}
	return nil
}

// checkUpperDependencies looks up above every object the lower pod will use: the
// lower kubelet would otherwise use the lower cluster's object of that name, which an
// upper user must never read. A missing required one, or a missing optional one that a
// foreign lower object of its name would stand in for, blocks the pod: blocked says
// why. A missing optional one is otherwise reported and the pod goes on, as with a
// kubelet. Each missing object gets its own Event, which the caller records once per
// wait (reconcile checks a waiting pod again every statusRecheck).
func (p *Provider) checkUpperDependencies(ctx context.Context, upper *corev1.Pod, deps translate.Dependencies) (blocked string, events []event, err error) {
	var why []string
	for _, c := range []struct {
		dep                       reflector.Dependency
		display                   string
		names, optional           sets.Set[string]
		mandatoryWhy, optionalWhy string
	}{
		{p.uses.ConfigMaps, "ConfigMap", deps.ConfigMaps, deps.OptionalConfigMaps, ReasonMandatoryConfigMapNotFound, ReasonOptionalConfigMapNotFound},
		{p.uses.Secrets, "Secret", deps.Secrets, deps.OptionalSecrets, ReasonMandatorySecretNotFound, ReasonOptionalSecretNotFound},
		{p.uses.PVCs, "PersistentVolumeClaim", deps.PVCs, nil, ReasonDependencyNotFound, ""},
		{p.uses.ServiceAccounts, "ServiceAccount", deps.ServiceAccounts, nil, ReasonDependencyNotFound, ""},
	} {
		dep := c.dep
		for _, n := range sets.List(c.names) {
			obj := fmt.Sprintf("%s %s/%s", c.display, upper.Namespace, n)
			exists, err := dep.UpperExists(upper.Namespace, n)
			if err != nil {
				return "", nil, fmt.Errorf("reading upper %s: %w", obj, err)
			}
			if exists {
				continue
			}
			if !c.optional.Has(n) {
				events = append(events, event{c.mandatoryWhy,
					fmt.Sprintf("%s not found: the pod waits until it exists in the upper namespace %s", obj, upper.Namespace)})
				why = append(why, obj+" not found")
				continue
			}
			foreign, err := dep.LowerForeign(ctx, upper.Namespace, n)
			if err != nil {
				return "", nil, fmt.Errorf("reading lower %s: %w", obj, err)
			}
			if foreign {
				lowerObj := fmt.Sprintf("%s %s/%s", c.display, p.cfg.Owner.Namespaces.ToLower(upper.Namespace), n)
				events = append(events, event{ReasonForeignObject, fmt.Sprintf(
					"Optional %s not found, and the lower cluster has a %s that this virtual node did not create, which the pod would use instead: the pod waits until %s exists in the upper namespace %s or the lower object goes",
					obj, lowerObj, n, upper.Namespace)})
				why = append(why, fmt.Sprintf("optional %s not found and the lower %s, not ours, would be used instead", obj, lowerObj))
				continue
			}
			events = append(events, event{c.optionalWhy, fmt.Sprintf("Optional %s not found: the pod starts without it", obj)})
		}
	}
	return strings.Join(why, "; "), events, nil
}

// event is an Event to record on an upper pod.
type event struct{ reason, msg string }

// waitingPod is an upper pod whose lower pod is not created yet, and why.
type waitingPod struct {
	uid types.UID
	why string
}

// UpdatePod applies the changes a kubelet honours to the lower pod.
func (p *Provider) UpdatePod(ctx context.Context, upper *corev1.Pod) error {
	start := time.Now()
	err := p.updatePod(ctx, upper)
	observeOp("update", err, start)
	return p.settle(ctx, "update", upper, err)
}

func (p *Provider) updatePod(ctx context.Context, upper *corev1.Pod) error {
	desired, err := p.lowerPod(upper)
	if err != nil {
		return err
	}
	lower, err := p.cfg.Lower.CoreV1().Pods(desired.Namespace).Get(ctx, upper.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return p.createPod(ctx, upper)
	}
	if err != nil {
		return err
	}
	if !p.cfg.Owner.Owns(lower) || translate.UpperUID(lower) != upper.UID {
		return p.adopt(ctx, upper, lower)
	}
	if err := p.ensureDependencies(ctx, upper.Namespace, desired); err != nil {
		return err
	}
	var previous *corev1.Pod
	if v, ok := p.views.Load(podKey(upper.Namespace, upper.Name)); ok {
		if previous, err = p.lowerPod(v.(*corev1.Pod)); err != nil {
			previous = nil
		}
	}
	changed, err := translate.ApplyUpdate(lower, desired, previous)
	if err != nil {
		return errdefs.AsInvalidInput(err)
	}
	if changed {
		if _, err := p.cfg.Lower.CoreV1().Pods(lower.Namespace).Update(ctx, lower, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	p.views.Store(podKey(upper.Namespace, upper.Name), upper.DeepCopy())
	return p.syncEphemeralAndResize(ctx, upper, lower)
}

// DeletePod deletes the lower pod with the upper pod's grace period. The upper pod is
// removed once the lower one is gone (see reconcile).
func (p *Provider) DeletePod(ctx context.Context, upper *corev1.Pod) error {
	start := time.Now()
	err := p.deletePod(ctx, upper)
	observeOp("delete", err, start)
	return err
}

func (p *Provider) deletePod(ctx context.Context, upper *corev1.Pod) error {
	key := types.NamespacedName{Namespace: upper.Namespace, Name: upper.Name}
	p.views.Delete(key.String())
	p.status.forget(key.String())
	p.waiting.Delete(key.String())
	p.redriving.Delete(key.String())
	for _, d := range p.deps {
		d.Release(key)
	}
	lower, err := p.ownedLowerPod(upper.Namespace, upper.Name)
	if errdefs.IsNotFound(err) {
		p.queue.Add(key.String()) // nothing below: let reconcile finish the upper pod
		return err
	}
	if err != nil {
		return err
	}
	if upper.UID != "" && translate.UpperUID(lower) != upper.UID {
		return errdefs.NotFoundf("lower pod %s belongs to another upper pod", key)
	}
	uid := lower.UID
	opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}
	if upper.DeletionGracePeriodSeconds != nil {
		opts.GracePeriodSeconds = upper.DeletionGracePeriodSeconds
	}
	err = p.cfg.Lower.CoreV1().Pods(lower.Namespace).Delete(ctx, lower.Name, opts)
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	if err == nil {
		klog.FromContext(ctx).V(2).Info("Deleted lower pod", "pod", klog.KObj(lower), "gracePeriod", opts.GracePeriodSeconds)
	}
	return err
}

// GetPod returns the upper view of the lower pod (nil, NotFound when there is none).
func (p *Provider) GetPod(_ context.Context, namespace, name string) (*corev1.Pod, error) {
	lower, err := p.ownedLowerPod(namespace, name)
	if err != nil {
		return nil, err
	}
	return p.upperView(lower), nil
}

// GetPodStatus returns the lower pod's status.
func (p *Provider) GetPodStatus(_ context.Context, namespace, name string) (*corev1.PodStatus, error) {
	lower, err := p.ownedLowerPod(namespace, name)
	if err != nil {
		return nil, err
	}
	return lower.Status.DeepCopy(), nil
}

// GetPods returns the upper view of every lower pod this node created; virtual-kubelet
// deletes those whose upper pod no longer exists (e.g. deleted while we were down).
func (p *Provider) GetPods(context.Context) ([]*corev1.Pod, error) {
	lowers, err := p.OwnedLowerPods()
	if err != nil {
		return nil, err
	}
	out := make([]*corev1.Pod, 0, len(lowers))
	for _, l := range lowers {
		if _, ok := p.UpperName(l); ok {
			out = append(out, p.upperView(l))
		}
	}
	return out, nil
}

// LowerName returns the namespace and name of the lower pod of ours that runs for the
// upper pod, or an error for which errdefs.IsNotFound holds when there is none: a
// lower pod of that name that is not ours (another node's, the lower cluster's own)
// must never answer for the upper pod's logs, exec or port-forward.
func (p *Provider) LowerName(upper types.NamespacedName) (types.NamespacedName, error) {
	lower, err := p.ownedLowerPod(upper.Namespace, upper.Name)
	if err != nil {
		return types.NamespacedName{}, err
	}
	return types.NamespacedName{Namespace: lower.Namespace, Name: lower.Name}, nil
}

// ownedLowerPod returns the lower pod of ours that runs for the upper pod
// namespace/name.
func (p *Provider) ownedLowerPod(namespace, name string) (*corev1.Pod, error) {
	lower, err := p.lowerPods.Pods(p.cfg.Owner.Namespaces.ToLower(namespace)).Get(name)
	if apierrors.IsNotFound(err) || (err == nil && !p.cfg.Owner.Owns(lower)) {
		return nil, errdefs.NotFoundf("pod %s/%s not found in the lower cluster", namespace, name)
	}
	return lower, err
}

// upperView is the lower pod as virtual-kubelet should see it: the upper pod we applied
// (when we know it) with the lower status, else the lower pod without our marks, in
// its upper namespace. Callers check that lower is ours.
func (p *Provider) upperView(lower *corev1.Pod) *corev1.Pod {
	key, _ := p.UpperName(lower)
	if v, ok := p.views.Load(key.String()); ok {
		view := v.(*corev1.Pod).DeepCopy()
		if view.UID == translate.UpperUID(lower) {
			view.Status = *lower.Status.DeepCopy()
			return view
		}
	}
	view := lower.DeepCopy()
	view.Namespace = key.Namespace
	view.UID = translate.UpperUID(lower)
	view.Labels = translate.WithoutOwnership(view.Labels)
	view.Annotations = translate.WithoutOwnership(view.Annotations)
	return view
}

// OwnedLowerPods returns the lower pods this virtual node created (shared cache: do not
// modify them).
func (p *Provider) OwnedLowerPods() ([]*corev1.Pod, error) {
	return p.lowerPods.List(p.cfg.Owner.Selector())
}
