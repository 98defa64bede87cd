package lowerfit

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	schedutil "k8s.io/kubernetes/pkg/scheduler/util"

	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
)

// ClusterSummaryEvent is the scheduler's name for ClusterSummary events: a custom
// resource is named "<plural>.<version>.<group>", and kube-scheduler builds a dynamic
// informer for it from that name.
const ClusterSummaryEvent fwk.EventResource = v1alpha1.ClusterSummaryResource + ".v1alpha1." + v1alpha1.GroupName

// EventsToRegister lists the events that may make a pod this plugin rejected
// schedulable: a new or changed summary, a new or relabelled virtual node, and a pod
// leaving a virtual node (its reservation goes with it).
func (pl *Plugin) EventsToRegister(context.Context) ([]fwk.ClusterEventWithHint, error) {
	return []fwk.ClusterEventWithHint{
		{Event: fwk.ClusterEvent{Resource: ClusterSummaryEvent, ActionType: fwk.Add | fwk.Update}, QueueingHintFn: pl.hintSummary},
		{Event: fwk.ClusterEvent{Resource: fwk.Node, ActionType: fwk.Add | fwk.UpdateNodeLabel | fwk.UpdateNodeTaint | fwk.UpdateNodeAllocatable}, QueueingHintFn: pl.hintNode},
		{Event: fwk.ClusterEvent{Resource: fwk.AssignedPod, ActionType: fwk.Delete}, QueueingHintFn: pl.hintAssignedPodDelete},
	}, nil
}

// hintSummary requeues on a new summary or a change of content. A heartbeat (same
// content, newer time) only matters to pods turned away because the old one was stale.
func (pl *Plugin) hintSummary(logger klog.Logger, pod *corev1.Pod, oldObj, newObj any) (fwk.QueueingHint, error) {
	newU, ok := newObj.(*unstructured.Unstructured)
	if !ok {
		return fwk.Queue, nil
	}
	pl.catchUp(logger, newU)
	oldU, ok := oldObj.(*unstructured.Unstructured)
	if !ok || oldU == nil {
		return fwk.Queue, nil
	}
	oldHash, oldUpdated, err := summaryStamp(oldU)
	newHash, _, _ := unstructured.NestedString(newU.Object, "status", "contentHash")
	if oldHash != newHash || oldHash == "" {
		return fwk.Queue, nil
	}
	if err != nil {
		return fwk.Queue, err
	}
	if pl.now().Sub(oldUpdated) > pl.args.MaxSummaryAge.Duration {
		return fwk.Queue, nil
	}
	logger.V(5).Info("ClusterSummary heartbeat changes nothing for the pod", "pod", klog.KObj(pod), "clusterSummary", newU.GetName())
	return fwk.QueueSkip, nil
}

// catchUp makes sure the view a requeued pod is retried against is at least as new
// as the summary that requeued it. The event comes from the scheduler's own informer,
// not from the plugin's: without this the retry may still see the old summary, and
// the pod would wait for the next change or the scheduler's periodic flush. The check
// is cheap; only a newer summary is compiled, once.
func (pl *Plugin) catchUp(logger klog.Logger, u *unstructured.Unstructured) {
	hash, updated, err := summaryStamp(u)
	if err != nil || pl.store.heartbeat(u.GetName(), updated, hash) || !pl.store.newer(u.GetName(), updated, hash) {
		return
	}
	ix, err := indexFromObject(u)
	if err != nil {
		logger.Error(err, "Ignoring malformed ClusterSummary")
		return
	}
	pl.store.setSummary(ix)
}

// summaryStamp reads a ClusterSummary's status.contentHash and status.updateTime
// without decoding the rest of it: the hints run per pending pod per event. A missing
// field reads as "" or the zero time; an updateTime that does not parse is an error.
func summaryStamp(u *unstructured.Unstructured) (hash string, updated time.Time, err error) {
	hash, _, _ = unstructured.NestedString(u.Object, "status", "contentHash")
	raw, _, _ := unstructured.NestedString(u.Object, "status", "updateTime")
	var t metav1.MicroTime
	if err := t.UnmarshalQueryParameter(raw); err != nil {
		return hash, time.Time{}, fmt.Errorf("ClusterSummary %s: status.updateTime: %w", u.GetName(), err)
	}
	return hash, t.Time, nil
}

// hintNode requeues when the node is virtual.
func (pl *Plugin) hintNode(logger klog.Logger, pod *corev1.Pod, oldObj, newObj any) (fwk.QueueingHint, error) {
	_, node, err := schedutil.As[*corev1.Node](oldObj, newObj)
	if err != nil {
		return fwk.Queue, err
	}
	if pl.isVirtual(node) {
		return fwk.Queue, nil
	}
	return fwk.QueueSkip, nil
}

// hintAssignedPodDelete requeues when the deleted pod sat on a virtual node.
func (pl *Plugin) hintAssignedPodDelete(logger klog.Logger, pod *corev1.Pod, oldObj, newObj any) (fwk.QueueingHint, error) {
	deleted, _, err := schedutil.As[*corev1.Pod](oldObj, newObj)
	if err != nil {
		return fwk.Queue, err
	}
	if pl.store.snapshot().isVirtualName(deleted.Spec.NodeName) {
		// The plugin's own handler releases the reservation too, but on another
		// goroutine: release it here so the requeued pod sees the room.
		pl.store.release(deleted.UID)
		return fwk.Queue, nil
	}
	return fwk.QueueSkip, nil
}
