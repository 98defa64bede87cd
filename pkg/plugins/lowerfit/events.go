package lowerfit

import (
	"context"

	corev1 "k8s.io/api/core/v1"
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
	oldU, ok := oldObj.(*unstructured.Unstructured)
	if !ok || oldU == nil {
		return fwk.Queue, nil
	}
	oldHash, _, _ := unstructured.NestedString(oldU.Object, "status", "contentHash")
	newHash, _, _ := unstructured.NestedString(newU.Object, "status", "contentHash")
	if oldHash != newHash || oldHash == "" {
		return fwk.Queue, nil
	}
	old, err := summaryFromObject(oldU)
	if err != nil {
		return fwk.Queue, err
	}
	if pl.now().Sub(old.Status.UpdateTime.Time) > pl.args.MaxSummaryAge.Duration {
		return fwk.Queue, nil
	}
	logger.V(5).Info("ClusterSummary heartbeat changes nothing for the pod", "pod", klog.KObj(pod), "clusterSummary", newU.GetName())
	return fwk.QueueSkip, nil
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
		return fwk.Queue, nil
	}
	return fwk.QueueSkip, nil
}
