package reflector

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/tensile-kube/tensile/internal/translate"
)

// TestNamespaceUse: a namespace is used from its first pod of ours below to its last;
// only those two events select its Services; foreign pods and tombstones are handled.
func TestNamespaceUse(t *testing.T) {
	owner := translate.Owner{VirtualNode: "vk-node", UpperCluster: "upper-1"}
	u := &namespaceUse{owner: owner, counts: map[string]int{}}
	pod := func(ns, name string, ours bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
		if ours {
			owner.Mark(p, types.UID("uid-"+name))
		}
		return p
	}
	a, b, foreign := pod("app", "a", true), pod("app", "b", true), pod("app", "f", false)
	type step struct {
		name     string
		event    func(any) (string, labels.Selector, bool)
		obj      any
		selected bool
		used     bool
	}
	add, del := u.added, u.deleted
	for _, s := range []step{
		{"a foreign pod arrives", add, foreign, false, false},
		{"our first pod arrives", add, a, true, true},
		{"our second pod arrives", add, b, false, true},
		{"the first leaves", del, a, false, true},
		{"a foreign pod leaves", del, foreign, false, true},
		{"the last leaves, seen as a tombstone", del, cache.DeletedFinalStateUnknown{Key: "app/b", Obj: b}, true, false},
		{"it comes back", add, b, true, true},
	} {
		ns, _, selected := s.event(s.obj)
		if selected != s.selected || (selected && ns != "app") {
			t.Errorf("%s: selected %v (%q), want %v", s.name, selected, ns, s.selected)
		}
		if got := u.used("app"); got != s.used {
			t.Errorf("%s: used = %v, want %v", s.name, got, s.used)
		}
	}
}
