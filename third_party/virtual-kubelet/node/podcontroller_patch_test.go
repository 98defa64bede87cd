package node

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// patchTestPod is a small pod as the upper informer holds it.
func patchTestPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", ResourceVersion: "1", Labels: map[string]string{"app": "x"}},
		Spec: corev1.PodSpec{NodeName: "vk", Containers: []corev1.Container{{Name: "c", Image: "img",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
}

// TestPodsEffectivelyEqual: the patched comparison (PATCHES.md) ignores what the
// upstream one ignored, the status and the resource version, compares quantities and
// times by value as cmp.Equal did through their Equal methods, and sees everything else.
func TestPodsEffectivelyEqual(t *testing.T) {
	now := metav1.Now()
	for _, tc := range []struct {
		name string
		mod  func(*corev1.Pod)
		want bool
	}{
		{"same", func(*corev1.Pod) {}, true},
		{"other resourceVersion and status", func(p *corev1.Pod) { p.ResourceVersion = "2"; p.Status.Phase = corev1.PodRunning }, true},
		{"same quantity written differently", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("0.1")
		}, true},
		{"marked for deletion", func(p *corev1.Pod) { p.DeletionTimestamp = &now }, false},
		{"grace period changed", func(p *corev1.Pod) { p.DeletionGracePeriodSeconds = new(int64) }, false},
		{"image changed", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "img:2" }, false},
		{"label changed", func(p *corev1.Pod) { p.Labels["app"] = "y" }, false},
	} {
		a, b := patchTestPod(), patchTestPod()
		tc.mod(b)
		if got := podsEffectivelyEqual(a, b); got != tc.want {
			t.Errorf("%s: podsEffectivelyEqual = %v, want %v", tc.name, got, tc.want)
		}
		if a.ResourceVersion != "1" || a.Status.Phase != corev1.PodPending {
			t.Errorf("%s: the compared pod was modified", tc.name)
		}
	}
}

// BenchmarkPodsEffectivelyEqual: about 0.5 ms, 48 KB and 2,137 allocations per call
// before the patch for this pod.
func BenchmarkPodsEffectivelyEqual(b *testing.B) {
	p, q := patchTestPod(), patchTestPod()
	q.ResourceVersion = "2"
	b.ReportAllocs()
	for b.Loop() {
		if !podsEffectivelyEqual(p, q) {
			b.Fatal("not equal")
		}
	}
}
