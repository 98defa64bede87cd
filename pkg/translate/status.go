package translate

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// TerminatedStatus returns a copy of the upper pod whose containers all report
// terminated: what a kubelet reports once a deleted pod's containers are gone.
func TerminatedStatus(upper *corev1.Pod, reason string) *corev1.Pod {
	out := upper.DeepCopy()
	now := metav1.Now()
	for _, list := range [][]corev1.ContainerStatus{out.Status.InitContainerStatuses, out.Status.ContainerStatuses} {
		for i := range list {
			if list[i].State.Terminated != nil {
				continue
			}
			list[i].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 137, Reason: reason, FinishedAt: now,
			}}
			list[i].Ready = false
		}
	}
	return out
}
