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
// and a detail for people), and false when it should stay: it must be Pending and not terminating, and either its lower
// cluster has reported it unschedulable (PodScheduled=False/Unschedulable, reflected by
// the virtual node) for at least the grace period, or it has been Pending longer than
// maxPending.
func (s selection) why(pod *v1.Pod, now time.Time) (reason, detail string, ok bool) {
	if pod.DeletionTimestamp != nil || pod.Status.Phase != v1.PodPending {
		return "", "", false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type != v1.PodScheduled || c.Status != v1.ConditionFalse || c.Reason != v1.PodReasonUnschedulable ||
			c.LastTransitionTime.IsZero() {
			continue
		}
		if since := now.Sub(c.LastTransitionTime.Time); since >= s.grace {
			return EvictionReasonUnschedulable, fmt.Sprintf("unschedulable in the lower cluster for %s: %s", since.Round(time.Second), c.Message), true
		}
	}
	if s.maxPending > 0 && !pod.CreationTimestamp.IsZero() {
		if age := now.Sub(pod.CreationTimestamp.Time); age >= s.maxPending {
			return EvictionReasonPending, fmt.Sprintf("pending for %s", age.Round(time.Second)), true
		}
	}
	return "", "", false
}
