package capacity

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ModelPod returns what the model reads of a lower pod (SetPod, PodRequests, isTerminal,
// Options.IsOwn aside): its identity, node, phase, generation and resource requests.
// Informers of lower pods that are not the virtual node's own keep this instead of
// the whole pod (an informer transform): the lower cluster's other pods cost the model
// nothing else, which is most of the virtual node's memory at 10,000 lower pods. Keep
// it next to what reads the pod: a field the model starts to read must be kept here.
func ModelPod(pod *corev1.Pod) *corev1.Pod {
	out := &corev1.Pod{
		TypeMeta: pod.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID, ResourceVersion: pod.ResourceVersion,
			Generation: pod.Generation, DeletionTimestamp: pod.DeletionTimestamp,
		},
		Spec: corev1.PodSpec{
			NodeName: pod.Spec.NodeName, Overhead: pod.Spec.Overhead, Resources: pod.Spec.Resources,
			Containers: requestsOnly(pod.Spec.Containers), InitContainers: requestsOnly(pod.Spec.InitContainers),
		},
		Status: corev1.PodStatus{Phase: pod.Status.Phase},
	}
	return out
}

// requestsOnly keeps of each container what PodRequests reads: its resources and, for
// init containers, whether it is a sidecar (restartPolicy Always).
func requestsOnly(cs []corev1.Container) []corev1.Container {
	if len(cs) == 0 {
		return nil
	}
	out := make([]corev1.Container, len(cs))
	for i := range cs {
		out[i] = corev1.Container{Name: cs[i].Name, Resources: cs[i].Resources, RestartPolicy: cs[i].RestartPolicy}
	}
	return out
}
