package translate

import (
	corev1 "k8s.io/api/core/v1"
)

// StatusToUpper returns a copy of the upper pod carrying the lower pod's status, ready
// for virtual-kubelet's status update (which writes the object it is given, so its
// metadata must be the upper pod's own: deletionGracePeriodSeconds is immutable).
func StatusToUpper(upper, lower *corev1.Pod) *corev1.Pod {
	out := upper.DeepCopy()
	ls := lower.Status
	st := &out.Status
	st.Phase = ls.Phase
	st.Conditions = append([]corev1.PodCondition(nil), ls.Conditions...)
	st.Message = ls.Message
	st.Reason = ls.Reason
	st.HostIP = ls.HostIP
	st.HostIPs = append([]corev1.HostIP(nil), ls.HostIPs...)
	st.PodIP = ls.PodIP
	st.PodIPs = append([]corev1.PodIP(nil), ls.PodIPs...)
	st.StartTime = ls.StartTime.DeepCopy()
	st.InitContainerStatuses = copyStatuses(ls.InitContainerStatuses)
	st.ContainerStatuses = copyStatuses(ls.ContainerStatuses)
	st.Resize = ls.Resize
	st.ObservedGeneration = upper.Generation
	if st.QOSClass == "" {
		st.QOSClass = ls.QOSClass
	}
	return out
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
