package placement

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
)

// TestPlacementExclusionType checks the hand-written deep copy and the scheme
// registration of the kind this package stores.
func TestPlacementExclusionType(t *testing.T) {
	rec := NewRecord("ns", metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: "u"})
	rec.Annotations = SetRecreations(nil, 1)
	rec.Spec.Exclusions = []v1alpha1.NodeExclusion{excl("vk-a", t0)}
	list := &v1alpha1.PlacementExclusionList{Items: []v1alpha1.PlacementExclusion{*rec}}

	cp := list.DeepCopyObject().(*v1alpha1.PlacementExclusionList)
	if diff := cmp.Diff(list, cp); diff != "" {
		t.Fatalf("copy differs:\n%s", diff)
	}
	cp.Items[0].Spec.Exclusions[0].Node = "changed"
	cp.Items[0].Annotations[RecreationsAnnotation] = "9"
	cp.Items[0].OwnerReferences[0].Name = "changed"
	if rec.Spec.Exclusions[0].Node != "vk-a" || Recreations(rec.Annotations) != 1 || list.Items[0].OwnerReferences[0].Name != "web" ||
		list.Items[0].Spec.Exclusions[0].Node != "vk-a" {
		t.Error("deep copy shares memory with the original")
	}

	s := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	for _, obj := range []runtime.Object{&v1alpha1.PlacementExclusion{}, &v1alpha1.PlacementExclusionList{}} {
		gvks, _, err := s.ObjectKinds(obj)
		if err != nil || gvks[0].GroupVersion() != v1alpha1.SchemeGroupVersion {
			t.Errorf("%T: %v %v", obj, gvks, err)
		}
	}
}
