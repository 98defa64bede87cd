package recreateunschedulable

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
	"sigs.k8s.io/descheduler/pkg/descheduler/evictions"
	"sigs.k8s.io/descheduler/pkg/utils"

	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
	"github.com/tensile-kube/tensile/pkg/placement"
)

// Event reasons the plugin records.
const (
	ReasonExcluded     = "VirtualNodeExcluded"
	ReasonRecreated    = "Recreated"
	ReasonRecreateFrom = "RecreatedFrom"
	ReasonCapReached   = "RecreationLimitReached"
	ReasonFailed       = "RecreateFailed"
	// ReasonAnnotationIgnored says a pod's tensile.dev/original-name was not believed.
	ReasonAnnotationIgnored = "AnnotationIgnored"
	eventAction             = "Deschedule"
)

// capReachedError says a workload was moved MaxRecreations times already.
type capReachedError struct{ count int }

func (e capReachedError) Error() string {
	return fmt.Sprintf("moved off virtual nodes %d times already", e.count)
}

// exclude handles a controller-owned pod: it records the exclusion of the pod's
// virtual node for the controller, then evicts the pod so the controller replaces it;
// the webhook adds the exclusion to the replacement. The record is written first so
// that the replacement, created as soon as the eviction starts, already finds it. The
// plugin never creates pods for a controller, so the pod count never exceeds the
// controller's own.
func (p *RecreateUnschedulable) exclude(ctx context.Context, c candidate, owner metav1.OwnerReference, now time.Time) error {
	logger := klog.FromContext(ctx).WithValues("pod", klog.KObj(c.pod), "owner", owner.Kind+"/"+owner.Name)
	ev := p.handle.Evictor()
	if !ev.Filter(c.pod) || !ev.PreEvictionFilter(c.pod) {
		logger.V(3).Info("Pod protected by the evictor, left alone")
		return nil
	}
	if p.opts.Exclusions == nil {
		logger.V(3).Info("No exclusion store, left alone")
		return nil
	}
	node := c.pod.Spec.NodeName
	rec, err := p.recordExclusion(ctx, c.pod.Namespace, owner, node, now)
	var capped capReachedError
	if errors.As(err, &capped) {
		p.event(c.pod, rec, v1.EventTypeWarning, ReasonCapReached,
			"Left on %s although %s: %s %s %s (cap %d); delete PlacementExclusion %s to reset",
			node, c.detail, owner.Kind, owner.Name, capped.Error(), p.limit(), placement.RecordName(owner.Kind, owner.Name))
		p.event(rec, c.pod, v1.EventTypeWarning, ReasonCapReached, "Not excluding %s for pod %s: %s (cap %d)",
			node, c.pod.Name, capped.Error(), p.limit())
		countAction("capped")
		return nil
	}
	if err != nil {
		return err
	}
	until := expiryOf(rec, node)
	if err := ev.Evict(ctx, c.pod, evictions.EvictOptions{StrategyName: PluginName, Reason: c.reason}); err != nil {
		return fmt.Errorf("evicting: %w", err)
	}
	msg := fmt.Sprintf("%s excluded for %s %s until %s (%s); pod evicted for the controller to replace it elsewhere",
		node, owner.Kind, owner.Name, until.UTC().Format(time.RFC3339), c.detail)
	p.event(c.pod, rec, v1.EventTypeNormal, ReasonExcluded, "%s", msg)
	p.event(rec, c.pod, v1.EventTypeNormal, ReasonExcluded, "%s", msg)
	logger.V(1).Info("Excluded virtual node for controller", "node", node, "until", until, "dryRun", p.opts.DryRun)
	countAction("excluded")
	return nil
}

// recordExclusion adds node to the controller's record, creating the record if need
// be, and returns it. A node not yet actively excluded raises the record's count,
// refused with capReachedError past the cap. In dry-run mode nothing is written and the
// record as it would be written is returned.
func (p *RecreateUnschedulable) recordExclusion(ctx context.Context, namespace string, owner metav1.OwnerReference, node string, now time.Time) (*v1alpha1.PlacementExclusion, error) {
	name := placement.RecordName(owner.Kind, owner.Name)
	var out *v1alpha1.PlacementExclusion
	err := retry.OnError(retry.DefaultRetry, func(err error) bool {
		return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)
	}, func() error {
		rec, err := p.opts.Exclusions.Get(ctx, namespace, name)
		exists := err == nil
		switch {
		case apierrors.IsNotFound(err):
			rec = placement.NewRecord(namespace, owner)
		case err != nil:
			return err
		case !placement.Matches(rec, owner):
			// Left by an earlier controller of the same name: start afresh in place.
			fresh := placement.NewRecord(namespace, owner)
			meta := rec.ObjectMeta.DeepCopy()
			meta.OwnerReferences = fresh.OwnerReferences
			delete(meta.Annotations, placement.RecreationsAnnotation)
			fresh.ObjectMeta = *meta
			rec = fresh
		}
		count := placement.Recreations(rec.Annotations)
		exclusions, added := placement.Add(rec.Spec.Exclusions, node, now, now.Add(p.ttl()))
		if added && count >= p.limit() {
			out = rec
			return capReachedError{count: count}
		}
		rec.Spec.Exclusions = exclusions
		if added {
			rec.Annotations = placement.SetRecreations(rec.Annotations, count+1)
		}
		var writeErr error
		switch {
		case p.opts.DryRun:
			out = rec
		case exists:
			out, writeErr = p.opts.Exclusions.Update(ctx, rec)
		default:
			out, writeErr = p.opts.Exclusions.Create(ctx, rec)
		}
		return writeErr
	})
	return out, err
}

// expiryOf returns when rec's exclusion of node lapses.
func expiryOf(rec *v1alpha1.PlacementExclusion, node string) time.Time {
	for _, e := range rec.Spec.Exclusions {
		if e.Node == node {
			return e.ExpiresAt.Time
		}
	}
	return time.Time{}
}

// recreate handles a bare pod: nobody else would re-create it, so the plugin evicts
// it and creates its replacement (see replacement) under a new name, which needs no
// waiting for the old pod to be gone. The re-creation count, the first pod's name and
// the exclusions live in the pod's lineage record (a PlacementExclusion owned by the
// pod), which the pod's author cannot write, so editing the pod's annotations neither
// resets the cap nor picks the replacement's name. The replacement is first checked
// with a server-side dry-run create, so a pod the API server would refuse is never
// evicted. The eviction goes through the descheduler's evictor, which applies the
// policy's eviction limits, PodDisruptionBudgets and --dry-run exactly as for upstream
// plugins.
func (p *RecreateUnschedulable) recreate(ctx context.Context, c candidate, now time.Time) error {
	logger := klog.FromContext(ctx).WithValues("pod", klog.KObj(c.pod))
	if utils.IsMirrorPod(c.pod) || utils.IsStaticPod(c.pod) || utils.IsCriticalPriorityPod(c.pod) ||
		!p.handle.Evictor().PreEvictionFilter(c.pod) {
		logger.V(3).Info("Pod protected, left alone")
		return nil
	}
	if p.opts.Exclusions == nil {
		// Nowhere to count re-creations: re-creating would never stop.
		logger.V(3).Info("No record store, left alone")
		return nil
	}
	lin, err := p.lineage(ctx, c.pod)
	if err != nil {
		p.event(c.pod, nil, v1.EventTypeWarning, ReasonFailed, "Cannot read the re-creation record of %s: %v", c.pod.Name, err)
		return err
	}
	if lin.Recreations >= p.limit() {
		p.event(c.pod, nil, v1.EventTypeWarning, ReasonCapReached,
			"Left on %s although %s: re-created %d times already (cap %d, counted in PlacementExclusion %s); delete %s and create the pod anew once a lower cluster can take it",
			c.pod.Spec.NodeName, c.detail, lin.Recreations, p.limit(), placement.LineageRecordName(c.pod.UID), c.pod.Name)
		countAction("capped")
		return nil
	}
	repl, next := replacement(c.pod, lin, c.pod.Spec.NodeName, now, p.ttl())
	pods := p.handle.ClientSet().CoreV1().Pods(repl.Namespace)
	if !p.opts.DryRun {
		if _, err := pods.Create(ctx, repl, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
			p.event(c.pod, nil, v1.EventTypeWarning, ReasonFailed, "Replacement %s would be refused: %v", repl.Name, err)
			countAction("failed")
			return fmt.Errorf("checking replacement %s: %w", repl.Name, err)
		}
	}
	if err := p.handle.Evictor().Evict(ctx, c.pod, evictions.EvictOptions{StrategyName: PluginName, Reason: c.reason}); err != nil {
		return fmt.Errorf("evicting: %w", err)
	}
	if p.opts.DryRun {
		logger.Info("Would re-create pod", "replacement", repl.Name, "reason", c.detail)
		return nil
	}
	created, err := p.createReplacement(ctx, repl)
	if err != nil {
		raw, _ := json.Marshal(repl)
		logger.Error(err, "Replacement lost after eviction; recreate it from this manifest", "manifest", string(raw))
		p.event(c.pod, nil, v1.EventTypeWarning, ReasonFailed, "Creating replacement %s failed: %v", repl.Name, err)
		countAction("failed")
		return err
	}
	if err := p.recordLineage(ctx, created, next); err != nil {
		// The replacement runs, but uncounted: it starts a lineage of its own.
		p.event(created, c.pod, v1.EventTypeWarning, ReasonFailed, "Re-creation %d of %d not recorded (%v); this pod's re-creations count from 0",
			next.Recreations, p.limit(), err)
		countAction("failed")
		return err
	}
	p.event(c.pod, created, v1.EventTypeNormal, ReasonRecreated, "Re-created as %s away from %s (%s); re-creation %d of %d",
		created.Name, c.pod.Spec.NodeName, c.detail, next.Recreations, p.limit())
	p.event(created, c.pod, v1.EventTypeNormal, ReasonRecreateFrom, "Re-created from %s, excluding %s", c.pod.Name, c.pod.Spec.NodeName)
	logger.V(1).Info("Re-created pod", "replacement", klog.KObj(created), "node", c.pod.Spec.NodeName, "recreations", next.Recreations)
	countAction("recreated")
	return nil
}

// lineage returns the lineage of the bare pod: from its lineage record when it has
// one, else (a first pod, or one re-created before records existed) from the pod
// itself (legacyLineage), with a Warning Event when its original-name annotation was
// not believed.
func (p *RecreateUnschedulable) lineage(ctx context.Context, pod *v1.Pod) (placement.Lineage, error) {
	rec, err := p.opts.Exclusions.Get(ctx, pod.Namespace, placement.LineageRecordName(pod.UID))
	switch {
	case err == nil:
		if lin, ok := placement.LineageOf(rec, pod); ok {
			return lin, nil
		}
	case !apierrors.IsNotFound(err):
		return placement.Lineage{}, err
	}
	lin, ignored, err := legacyLineage(pod)
	if err == nil && ignored != "" {
		p.event(pod, nil, v1.EventTypeWarning, ReasonAnnotationIgnored,
			"Annotation %s=%q ignored: %s is not a re-creation of %q; its replacement is named after %s. Remove the annotation",
			OriginalNameAnnotation, ignored, pod.Name, ignored, pod.Name)
	}
	return lin, err
}

// recordLineage writes the lineage record of created, the replacement just made,
// retrying transient failures: without it the replacement's count would start again.
// The previous pod's record is owned by that pod and goes with it.
func (p *RecreateUnschedulable) recordLineage(ctx context.Context, created *v1.Pod, lin placement.Lineage) error {
	rec := placement.NewLineageRecord(created, lin)
	return retry.OnError(retry.DefaultBackoff, func(err error) bool {
		return !apierrors.IsAlreadyExists(err) && !apierrors.IsInvalid(err) && !apierrors.IsForbidden(err)
	}, func() error {
		_, err := p.opts.Exclusions.Create(ctx, rec)
		return err
	})
}

// createReplacement creates repl, retrying transient failures; the original is gone
// by now, so giving up early would lose the workload.
func (p *RecreateUnschedulable) createReplacement(ctx context.Context, repl *v1.Pod) (*v1.Pod, error) {
	var created *v1.Pod
	err := retry.OnError(retry.DefaultBackoff, func(err error) bool {
		return !apierrors.IsAlreadyExists(err) && !apierrors.IsInvalid(err) && !apierrors.IsForbidden(err)
	}, func() error {
		var err error
		created, err = p.handle.ClientSet().CoreV1().Pods(repl.Namespace).Create(ctx, repl, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("creating replacement %s: %w", repl.Name, err)
	}
	return created, nil
}
