package placement

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
)

func TestLineageRecord(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "solo-r1", Namespace: "ns", UID: "u1"}}
	lin := Lineage{Original: "solo", Recreations: 1, Exclusions: []v1alpha1.NodeExclusion{excl("vk-a", t0.Add(time.Hour))}}
	rec := NewLineageRecord(pod, lin)
	if rec.Name != "pod-u1" || rec.Namespace != "ns" || len(rec.OwnerReferences) != 1 ||
		rec.OwnerReferences[0].UID != "u1" || rec.OwnerReferences[0].Kind != "Pod" {
		t.Errorf("record meta %+v", rec.ObjectMeta)
	}
	for _, tc := range []struct {
		name string
		mod  func(*v1alpha1.PlacementExclusion, *corev1.Pod)
		ok   bool
	}{
		{name: "the pod's own record", mod: func(*v1alpha1.PlacementExclusion, *corev1.Pod) {}, ok: true},
		{name: "nil record", mod: nil},
		{name: "another pod's UID", mod: func(_ *v1alpha1.PlacementExclusion, p *corev1.Pod) { p.UID = "u2" }},
		{name: "another pod's name", mod: func(_ *v1alpha1.PlacementExclusion, p *corev1.Pod) { p.Name = "other" }},
		{name: "a controller's record", mod: func(r *v1alpha1.PlacementExclusion, _ *corev1.Pod) { r.Spec.Owner.Kind = "ReplicaSet" }},
		{name: "no original name", mod: func(r *v1alpha1.PlacementExclusion, _ *corev1.Pod) { delete(r.Annotations, OriginalNameAnnotation) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, p := rec.DeepCopy(), pod.DeepCopy()
			if tc.mod == nil {
				r = nil
			} else {
				tc.mod(r, p)
			}
			got, ok := LineageOf(r, p)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if ok {
				if diff := cmp.Diff(lin, got); diff != "" {
					t.Errorf("lineage (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestLegacyLineageReadsOnlyTheCount(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "mine", Annotations: map[string]string{
		OriginalNameAnnotation: "victim", RecreationsAnnotation: "2",
	}}}
	got, err := LegacyLineage(pod)
	if err != nil || got.Original != "mine" || got.Recreations != 2 {
		t.Errorf("LegacyLineage = %+v, %v; want original mine, count 2", got, err)
	}
}
