package recreateunschedulable

import (
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
)

// selection holds the time limits a pod is judged by.
type selection struct {
	grace      time.Duration
	maxPending time.Duration // 0: no limit
}

// Eviction reasons, short as the descheduler's eviction Event uses them as its reason.
const (
	EvictionReasonUnschedulable = "LowerClusterUnschedulable"
	EvictionReasonPending       = "PendingTooLong"
)

// why returns why pod, bound to a virtual node, should leave it at now (a short reason
// and a detail for people), and false when it should stay.
//
// Only the lower cluster's own word counts: the upper pod's PodScheduled condition,
// which the virtual node mirrors from the lower pod, must be False, and time counts
// from its lastTransitionTime, never from the pod's creation. So a pod the lower
// cluster has placed (PodScheduled=True) but that is still Pending (pulling images,
// running init containers, waiting for a volume) always stays, however long it takes,
// and so does a pod whose status has not been mirrored yet: the upper scheduler's own
// PodScheduled=True, or no condition at all, says nothing about the lower cluster.
//
// With the condition False, the pod moves once either
//   - the reason is Unschedulable (the lower scheduler found no node) and it has been
//     False for at least the grace period, or
//   - it has been False, for any reason (SchedulingGated by a lower admission, a
//     SchedulerError), for at least maxPending.
//
// The lower scheduler keeps lastTransitionTime while the status stays False (only the
// reason and message change between attempts), so a pod retried for an hour counts an
// hour. A condition that went True and back to False (a new lower pod after the old
// one was lost) counts from the last transition only: that is a new attempt to place
// it. A condition without a transition time cannot be timed and never moves a pod.
func (s selection) why(pod *v1.Pod, now time.Time) (reason, detail string, ok bool) {
	if pod.DeletionTimestamp != nil || pod.Status.Phase != v1.PodPending {
		return "", "", false
	}
	c := podScheduled(pod)
	if c == nil || c.Status != v1.ConditionFalse || c.LastTransitionTime.IsZero() {
		return "", "", false
	}
	since := now.Sub(c.LastTransitionTime.Time)
	if c.Reason == v1.PodReasonUnschedulable && since >= s.grace {
		return EvictionReasonUnschedulable, fmt.Sprintf("unschedulable in the lower cluster for %s: %s", since.Round(time.Second), c.Message), true
	}
	if s.maxPending > 0 && since >= s.maxPending {
		return EvictionReasonPending, fmt.Sprintf("not placed by the lower cluster for %s (PodScheduled=False, reason %q): %s",
			since.Round(time.Second), c.Reason, c.Message), true
	}
	return "", "", false
}

// podScheduled returns the pod's PodScheduled condition, or nil (the first one, as
// Kubernetes' own pod helpers read it).
func podScheduled(pod *v1.Pod) *v1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == v1.PodScheduled {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}
