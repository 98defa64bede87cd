package translate

import (
	corev1 "k8s.io/api/core/v1"
)

// StatusToUpper returns a copy of the upper pod carrying the lower pod's status, ready
// for virtual-kubelet's status update (which writes the object it is given, so its
// metadata must be the upper pod's own: deletionGracePeriodSeconds is immutable).
func StatusToUpper(upper, lower *corev1.Pod) *corev1.Pod {
	return WithStatus(upper, StatusOf(upper, lower))
}

// WithStatus returns a copy of the upper pod's metadata and spec with status st (which
// it takes over, not copies).
func WithStatus(upper *corev1.Pod, st corev1.PodStatus) *corev1.Pod {
	return &corev1.Pod{TypeMeta: upper.TypeMeta, ObjectMeta: *upper.ObjectMeta.DeepCopy(), Spec: *upper.Spec.DeepCopy(), Status: st}
}

// StatusOf is the status the upper pod should have. docs/virtual-node.md ("Pod status,
// field by field") says where each field comes from and why: what a kubelet reports
// comes from below (phase, IPs, start time, container statuses of every kind, the
// kubelet's conditions); what the upper control plane owns is kept (QOS class, the
// nominated node, resource claims, conditions others wrote); observedGeneration and
// Ready with readiness gates are computed. The result shares nothing with either pod.
// Comparing it with the upper pod's status tells whether a write is due without
// copying the whole pod.
func StatusOf(upper, lower *corev1.Pod) corev1.PodStatus {
	st := *upper.Status.DeepCopy()
	ls := lower.Status
	st.Phase = ls.Phase
	st.Message = ls.Message
	st.Reason = ls.Reason
	// The lower node's address: it is where the pod's hostPorts and hostNetwork answer,
	// and what the pod itself reads as status.hostIP through the downward API.
	st.HostIP = ls.HostIP
	st.HostIPs = append([]corev1.HostIP(nil), ls.HostIPs...)
	st.PodIP = ls.PodIP
	st.PodIPs = append([]corev1.PodIP(nil), ls.PodIPs...)
	st.StartTime = ls.StartTime.DeepCopy()
	st.InitContainerStatuses = copyStatuses(ls.InitContainerStatuses)
	st.ContainerStatuses = copyStatuses(ls.ContainerStatuses)
	st.EphemeralContainerStatuses = copyStatuses(ls.EphemeralContainerStatuses)
	st.Resize = ls.Resize // deprecated; kubelets before 1.33 still write it
	observed := LowerObserved(upper, lower)
	st.Conditions = withResizeRefusal(upper, lower, MergeConditions(upper, lower, observed))
	if observed {
		st.ObservedGeneration = upper.Generation
	}
	if st.QOSClass == "" {
		st.QOSClass = ls.QOSClass
	}
	return st
}

func copyStatuses(in []corev1.ContainerStatus) []corev1.ContainerStatus {
	if in == nil {
		return nil
	}
	out := make([]corev1.ContainerStatus, len(in))
	for i := range in {
		in[i].DeepCopyInto(&out[i])
	}
	return out
}

// ReasonCreateContainerConfigError is the reason a kubelet gives a container whose
// configuration cannot be built yet (a Secret or ConfigMap it needs is missing).
const ReasonCreateContainerConfigError = "CreateContainerConfigError"

// WaitingStatus is the status a kubelet writes for a pod whose containers it cannot
// create yet: Pending; the first init container (or, without init containers, every
// container) waiting with reason and message, the others PodInitializing. The upper
// pod's conditions are kept. The result shares nothing with upper.
func WaitingStatus(upper *corev1.Pod, reason, message string) corev1.PodStatus {
	st := *upper.Status.DeepCopy()
	st.Phase = corev1.PodPending
	status := func(c corev1.Container, stuck bool) corev1.ContainerStatus {
		w := &corev1.ContainerStateWaiting{Reason: "PodInitializing"}
		if stuck {
			w = &corev1.ContainerStateWaiting{Reason: reason, Message: message}
		}
		return corev1.ContainerStatus{Name: c.Name, Image: c.Image, State: corev1.ContainerState{Waiting: w}}
	}
	// Init containers run one by one, so the kubelet is stuck on the first; without
	// them it is stuck on every container.
	hasInit := len(upper.Spec.InitContainers) > 0
	st.InitContainerStatuses = nil
	for i, c := range upper.Spec.InitContainers {
		st.InitContainerStatuses = append(st.InitContainerStatuses, status(c, i == 0))
	}
	st.ContainerStatuses = make([]corev1.ContainerStatus, 0, len(upper.Spec.Containers))
	for _, c := range upper.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, status(c, !hasInit))
	}
	return st
}
