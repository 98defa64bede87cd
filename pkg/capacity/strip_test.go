package capacity_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/tensile-kube/tensile/pkg/capacity"
)

// richPod is a lower pod with everything the model reads and much it does not.
func richPod() *corev1.Pod {
	rl := func(cpu, mem string) corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}
	}
	now := metav1.Now()
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web-0", Namespace: "shop", UID: "u1", ResourceVersion: "42", Generation: 3, DeletionTimestamp: &now,
			Labels:          map[string]string{"app": "web", "pod-template-hash": "abc"},
			Annotations:     map[string]string{corev1.LastAppliedConfigAnnotation: `{"a":"very long"}`},
			ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate}},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: "rs"}},
		},
		Spec: corev1.PodSpec{
			NodeName: "lower-3",
			Overhead: rl("50m", "16Mi"),
			InitContainers: []corev1.Container{
				{Name: "init", Image: "busybox", Resources: corev1.ResourceRequirements{Requests: rl("2", "1Gi")}},
				{Name: "sidecar", Image: "envoy", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
					Resources: corev1.ResourceRequirements{Requests: rl("100m", "64Mi")}},
			},
			Containers: []corev1.Container{
				{Name: "app", Image: "nginx", Env: []corev1.EnvVar{{Name: "A", Value: "b"}}, Command: []string{"nginx", "-g", "daemon off;"},
					Resources: corev1.ResourceRequirements{Requests: rl("500m", "256Mi"), Limits: rl("1", "512Mi")}},
				{Name: "log", Image: "fluent", Resources: corev1.ResourceRequirements{Requests: rl("100m", "32Mi")}},
			},
			Volumes:     []corev1.Volume{{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}}},
			Tolerations: []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}},
		},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			PodIP:      "10.1.2.3",
		},
	}
}

// TestModelPodKeepsWhatTheModelReads: the model counts a stripped pod exactly as the
// whole one, and the stripped pod holds nothing else.
func TestModelPodKeepsWhatTheModelReads(t *testing.T) {
	withPodLevel := richPod()
	withPodLevel.Spec.Resources = &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}}
	for name, pod := range map[string]*corev1.Pod{"containers": richPod(), "pod-level resources": withPodLevel} {
		t.Run(name, func(t *testing.T) {
			stripped := capacity.ModelPod(pod)
			if diff := cmp.Diff(capacity.PodRequests(pod), capacity.PodRequests(stripped)); diff != "" {
				t.Errorf("PodRequests differ (-whole +stripped):\n%s", diff)
			}
			whole, part := capacity.NewModel(capacity.Options{}), capacity.NewModel(capacity.Options{})
			node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "lower-3"}, Status: corev1.NodeStatus{
				Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("64Gi"), corev1.ResourcePods: resource.MustParse("110")},
				Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
			whole.SetNode(node)
			part.SetNode(node)
			whole.SetPod(pod)
			part.SetPod(stripped)
			if diff := cmp.Diff(whole.Aggregate(), part.Aggregate()); diff != "" {
				t.Errorf("model summaries differ (-whole +stripped):\n%s", diff)
			}
			if stripped.Labels != nil || stripped.Annotations != nil || stripped.ManagedFields != nil || stripped.OwnerReferences != nil ||
				stripped.Spec.Volumes != nil || stripped.Spec.Tolerations != nil || stripped.Status.Conditions != nil ||
				stripped.Spec.Containers[0].Env != nil || stripped.Spec.Containers[0].Image != "" {
				t.Errorf("stripped pod keeps what the model does not read: %+v", stripped)
			}
		})
	}
}
