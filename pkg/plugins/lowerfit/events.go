package lowerfit

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	schedutil "k8s.io/kubernetes/pkg/scheduler/util"
)

// EventsToRegister lists the events that may make a pod this plugin rejected
// schedulable: a new or relabelled virtual node, and a pod leaving a virtual node (its
// reservation goes with it). ClusterSummary changes are not among them: the plugin
// activates its waiting pods itself from its own informer (summaryHandler), so that
// kube-scheduler does not start a dynamic informer holding a second, unstructured
// copy of every summary.
func (pl *Plugin) EventsToRegister(context.Context) ([]fwk.ClusterEventWithHint, error) {
	return []fwk.ClusterEventWithHint{
		{Event: fwk.ClusterEvent{Resource: fwk.Node, ActionType: fwk.Add | fwk.UpdateNodeLabel | fwk.UpdateNodeTaint | fwk.UpdateNodeAllocatable}, QueueingHintFn: pl.hintNode},
		{Event: fwk.ClusterEvent{Resource: fwk.AssignedPod, ActionType: fwk.Delete}, QueueingHintFn: pl.hintAssignedPodDelete},
	}, nil
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
