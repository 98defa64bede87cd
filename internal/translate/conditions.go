package translate

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// KubeletConditions are the pod conditions a kubelet writes. The upper pod takes them
// from the lower pod, whose kubelet is the one running the containers; every other
// condition of the upper pod belongs to someone above and is kept.
var KubeletConditions = []corev1.PodConditionType{
	corev1.PodInitialized,
	corev1.ContainersReady,
	corev1.PodReady,
	corev1.PodReadyToStartContainers,
	corev1.PodResizePending,
	corev1.PodResizeInProgress,
}

// ReasonReadinessGatesNotReady is the reason a kubelet gives Ready=False when the
// containers are ready but a readiness gate is not.
const ReasonReadinessGatesNotReady = "ReadinessGatesNotReady"

// MergeConditions returns the upper pod's conditions with the lower status applied:
//   - the kubelet's conditions (KubeletConditions) are the lower pod's; one the lower
//     pod lacks is dropped;
//   - PodScheduled is the lower scheduler's once it has one (the upper binding is
//     already spec.nodeName; the descheduler's RecreateUnschedulable reads the lower
//     False/Unschedulable), else the upper one is kept;
//   - DisruptionTarget is the upper one; the lower one fills a gap, so that a Job's
//     podFailurePolicy sees a lower eviction or preemption;
//   - every other upper condition (readiness gates, conditions of controllers above)
//     is kept, and other lower conditions (lower gates) stay below;
//   - with readiness gates, Ready is computed as a kubelet does: the lower
//     ContainersReady and every gate condition of the upper pod True.
//
// observed says whether the lower pod has observed the upper pod's current spec (see
// LowerObserved): only then does a lower condition's observedGeneration become the
// upper generation. The result shares nothing with either pod.
func MergeConditions(upper, lower *corev1.Pod, observed bool) []corev1.PodCondition {
	var out []corev1.PodCondition
	from := func(c corev1.PodCondition) corev1.PodCondition {
		c = *c.DeepCopy()
		c.ObservedGeneration = conditionGeneration(upper, lower, c, observed)
		return c
	}
	added := map[corev1.PodConditionType]bool{}
	for _, c := range upper.Status.Conditions {
		lc, below := findCondition(lower.Status.Conditions, c.Type)
		switch {
		case slices.Contains(KubeletConditions, c.Type) && !below:
			continue
		case slices.Contains(KubeletConditions, c.Type), c.Type == corev1.PodScheduled && below:
			out = append(out, from(lc))
		default:
			out = append(out, *c.DeepCopy())
		}
		added[c.Type] = true
	}
	for _, lc := range lower.Status.Conditions {
		if added[lc.Type] {
			continue
		}
		if slices.Contains(KubeletConditions, lc.Type) || lc.Type == corev1.PodScheduled || lc.Type == corev1.DisruptionTarget {
			out = append(out, from(lc))
			added[lc.Type] = true
		}
	}
	gateReady(upper, out)
	return out
}

// conditionGeneration maps a lower condition's observedGeneration (a lower generation)
// to the upper generation it stands for.
func conditionGeneration(upper, lower *corev1.Pod, lc corev1.PodCondition, observed bool) int64 {
	if lc.ObservedGeneration == 0 {
		return 0
	}
	if observed && lc.ObservedGeneration >= lower.Generation {
		return upper.Generation
	}
	if uc, ok := findCondition(upper.Status.Conditions, lc.Type); ok {
		return uc.ObservedGeneration
	}
	return 0
}

// gateReady rewrites Ready in conds (in place) for a pod with readiness gates, as the
// kubelet computes it: ContainersReady and every gate condition True. The lower Ready
// cannot be used: the gates are written above, never below.
func gateReady(upper *corev1.Pod, conds []corev1.PodCondition) {
	if len(upper.Spec.ReadinessGates) == 0 {
		return
	}
	i := slices.IndexFunc(conds, func(c corev1.PodCondition) bool { return c.Type == corev1.PodReady })
	cr, ok := findCondition(conds, corev1.ContainersReady)
	if i < 0 || !ok {
		return
	}
	status, reason, message := corev1.ConditionTrue, "", ""
	since := cr.LastTransitionTime
	if cr.Status != corev1.ConditionTrue {
		status, reason, message = corev1.ConditionFalse, cr.Reason, cr.Message
	} else {
		for _, g := range upper.Spec.ReadinessGates {
			gc, ok := findCondition(upper.Status.Conditions, g.ConditionType)
			switch {
			case !ok:
				status, reason = corev1.ConditionFalse, ReasonReadinessGatesNotReady
				message = fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", g.ConditionType)
			case gc.Status != corev1.ConditionTrue:
				status, reason = corev1.ConditionFalse, ReasonReadinessGatesNotReady
				message = fmt.Sprintf("the status of pod readiness gate %q is not \"True\", but %v", g.ConditionType, gc.Status)
			}
			if ok && gc.LastTransitionTime.After(since.Time) {
				since = gc.LastTransitionTime
			}
			if status != corev1.ConditionTrue {
				break
			}
		}
	}
	ready := &conds[i]
	ready.Status, ready.Reason, ready.Message = status, reason, message
	// Deterministic, so that an unchanged status compares equal on every re-check: the
	// latest transition among the inputs is when Ready last changed.
	ready.LastTransitionTime = metav1.NewTime(since.Time)
	if prev, ok := findCondition(upper.Status.Conditions, corev1.PodReady); ok && prev.Status == status {
		ready.LastTransitionTime = prev.LastTransitionTime
	}
}

func findCondition(conds []corev1.PodCondition, t corev1.PodConditionType) (corev1.PodCondition, bool) {
	for _, c := range conds {
		if c.Type == t {
			return c, true
		}
	}
	return corev1.PodCondition{}, false
}
