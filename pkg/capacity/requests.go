package capacity

import (
	corev1 "k8s.io/api/core/v1"
	resourcehelper "k8s.io/component-helpers/resource"
)

// PodRequests returns what pod asks of a node, computed as kube-scheduler's
// NodeResourcesFit does (k8s.io/component-helpers/resource.PodRequests: the larger of
// the app containers' sum and each init container, restartable sidecars added, pod
// overhead included, pod-level resources honoured), plus one pod slot.
func PodRequests(pod *corev1.Pod) Vector {
	v := VectorFromList(resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{}))
	v.Pods = 1
	return v
}

// isTerminal reports whether pod no longer holds node resources. The scheduler's cache
// drops Succeeded and Failed pods; pods that are merely being deleted still count until
// they are gone.
func isTerminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// nodeReady reports whether node's Ready condition is True.
func nodeReady(node *corev1.Node) bool {
	for i := range node.Status.Conditions {
		if node.Status.Conditions[i].Type == corev1.NodeReady {
			return node.Status.Conditions[i].Status == corev1.ConditionTrue
		}
	}
	return false
}

// schedulingTaints returns the taints that decide whether a pod may land on a node
// (NoSchedule and NoExecute), without their TimeAdded, sorted. PreferNoSchedule only
// affects scoring, so it neither filters nor splits groups.
func schedulingTaints(taints []corev1.Taint) []corev1.Taint {
	var out []corev1.Taint
	for _, t := range taints {
		if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
			out = append(out, corev1.Taint{Key: t.Key, Value: t.Value, Effect: t.Effect})
		}
	}
	sortTaints(out)
	return out
}
