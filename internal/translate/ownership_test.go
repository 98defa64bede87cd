package translate_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	"github.com/tensile-kube/tensile/internal/translate"
)

func objWithLabels(l map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x", Labels: l}}
}

func TestOwnerOwnsAndSelector(t *testing.T) {
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   bool
	}{
		{name: "both marks", labels: map[string]string{translate.LabelVirtualNode: vnode, translate.LabelUpperCluster: "upper-1", "app": "web"}, want: true},
		{name: "no labels", labels: nil},
		{name: "virtual node only", labels: map[string]string{translate.LabelVirtualNode: vnode}},
		{name: "upper cluster only", labels: map[string]string{translate.LabelUpperCluster: "upper-1"}},
		{name: "another virtual node", labels: map[string]string{translate.LabelVirtualNode: "vk-other", translate.LabelUpperCluster: "upper-1"}},
		{name: "another upper cluster", labels: map[string]string{translate.LabelVirtualNode: vnode, translate.LabelUpperCluster: "upper-2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := owner.Owns(objWithLabels(tc.labels)); got != tc.want {
				t.Errorf("Owns = %v, want %v", got, tc.want)
			}
			// The selector the lower informers use must agree with Owns.
			if got := owner.Selector().Matches(labels.Set(tc.labels)); got != tc.want {
				t.Errorf("Selector().Matches = %v, want %v (selector %q)", got, tc.want, owner.Selector())
			}
		})
	}
}

// TestOwnsNamespaceMap: a copy made under another namespace map (the node ran with
// another --lower-namespace) is not ours to change or delete; one without a recorded
// map (made before maps were recorded) is.
func TestOwnsNamespaceMap(t *testing.T) {
	mapped := owner
	var err error
	if mapped.Namespaces, err = translate.ParseNamespaceMap("{namespace}-{cluster}", owner); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		record *string
		want   bool
	}{
		{name: "made under this map", record: ptr.To(mapped.Namespaces.String()), want: true},
		{name: "no record", want: true},
		{name: "made under the identity map", record: ptr.To("{namespace}")},
		{name: "made under another suffix", record: ptr.To("{namespace}-upper-2")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj := objWithLabels(mapped.Labels())
			if tc.record != nil {
				obj.Annotations = map[string]string{translate.AnnotationNamespaceMap: *tc.record}
			}
			if got := mapped.Owns(obj); got != tc.want {
				t.Errorf("Owns = %v, want %v", got, tc.want)
			}
		})
	}
	marked := objWithLabels(nil)
	mapped.Mark(marked, "u-1")
	if !mapped.Owns(marked) || owner.Owns(marked) {
		t.Errorf("a copy marked under %s: owned by its map %v, by the identity map %v; want true, false", mapped.Namespaces, mapped.Owns(marked), owner.Owns(marked))
	}
}

func TestOwnerMark(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   metav1.ObjectMeta
		uid  types.UID
		want metav1.ObjectMeta
	}{
		{
			name: "nil maps",
			uid:  "u-1",
			want: metav1.ObjectMeta{Labels: owner.Labels(), Annotations: map[string]string{translate.AnnotationUpperUID: "u-1", translate.AnnotationNamespaceMap: "{namespace}"}},
		},
		{
			name: "existing labels and annotations kept, stale marks overwritten",
			in: metav1.ObjectMeta{
				Labels:      map[string]string{"app": "web", translate.LabelVirtualNode: "vk-old"},
				Annotations: map[string]string{"note": "x", translate.AnnotationUpperUID: "u-old", translate.AnnotationNamespaceMap: "{namespace}"},
			},
			uid: "u-2",
			want: metav1.ObjectMeta{
				Labels:      map[string]string{"app": "web", translate.LabelVirtualNode: vnode, translate.LabelUpperCluster: "upper-1"},
				Annotations: map[string]string{"note": "x", translate.AnnotationUpperUID: "u-2", translate.AnnotationNamespaceMap: "{namespace}"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj := &corev1.ConfigMap{ObjectMeta: tc.in}
			owner.Mark(obj, tc.uid)
			if diff := cmp.Diff(tc.want, obj.ObjectMeta); diff != "" {
				t.Errorf("metadata (-want +got):\n%s", diff)
			}
			if !owner.Owns(obj) {
				t.Error("Owns = false after Mark")
			}
			if got := translate.UpperUID(obj); got != tc.uid {
				t.Errorf("UpperUID = %q, want %q", got, tc.uid)
			}
		})
	}
}

func TestUpperUIDUnmarked(t *testing.T) {
	if got := translate.UpperUID(objWithLabels(nil)); got != "" {
		t.Errorf("UpperUID of an unmarked object = %q, want empty", got)
	}
}

func TestWithoutOwnership(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   map[string]string
		want map[string]string
	}{
		{"nil", nil, nil},
		{"only ours", map[string]string{translate.LabelVirtualNode: "vk", translate.LabelUpperCluster: "c", translate.AnnotationUpperUID: "u", translate.AnnotationNamespaceMap: "{namespace}"}, nil},
		{"mixed", map[string]string{translate.LabelVirtualNode: "vk", "app": "web", translate.AnnotationUpperNamespace: "ns"}, map[string]string{"app": "web"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, translate.WithoutOwnership(tc.in)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestMarkedByAnyNode(t *testing.T) {
	for _, tc := range []struct {
		labels map[string]string
		want   bool
	}{
		{nil, false},
		{map[string]string{"app": "web"}, false},
		{map[string]string{translate.LabelVirtualNode: "vk-other"}, true},
		{translate.Owner{VirtualNode: "vk", UpperCluster: "u"}.Labels(), true},
	} {
		if got := translate.MarkedByAnyNode(&metav1.ObjectMeta{Labels: tc.labels}); got != tc.want {
			t.Errorf("MarkedByAnyNode(%v) = %v, want %v", tc.labels, got, tc.want)
		}
	}
}

// TestAnchor: the anchor Lease is ours, unique per upper cluster, a valid name for any
// node name, and the pods' controller without blocking its deletion.
func TestAnchor(t *testing.T) {
	other := owner
	other.UpperCluster = "upper-2"
	if owner.AnchorName() == other.AnchorName() {
		t.Errorf("nodes of one name in two upper clusters share the anchor %q", owner.AnchorName())
	}
	long := owner
	long.VirtualNode = strings.Repeat("n", 253)
	for _, o := range []translate.Owner{owner, long} {
		name := o.AnchorName()
		if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
			t.Errorf("AnchorName for node %.20q... = %q: %v", o.VirtualNode, name, msgs)
		}
	}
	l := owner.Anchor("app")
	if !owner.Owns(l) || l.Namespace != "app" || l.Name != owner.AnchorName() || translate.UpperUID(l) != "" {
		t.Errorf("Anchor(app) = %s/%s labels %v annotations %v; want ours, named %s, mirroring no upper object",
			l.Namespace, l.Name, l.Labels, l.Annotations, owner.AnchorName())
	}
	l.UID = "lease-uid"
	ref := translate.AnchorReference(l)
	want := metav1.OwnerReference{APIVersion: "coordination.k8s.io/v1", Kind: "Lease", Name: l.Name, UID: "lease-uid",
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(false)}
	if diff := cmp.Diff(want, ref); diff != "" {
		t.Errorf("AnchorReference (-want +got):\n%s", diff)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{ref}}}
	if c := metav1.GetControllerOf(pod); c == nil || c.UID != "lease-uid" {
		t.Errorf("controller of a pod carrying the reference = %v, want the anchor", c)
	}
}
