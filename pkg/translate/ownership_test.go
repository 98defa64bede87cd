package translate_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tensile-kube/tensile/pkg/translate"
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
			want: metav1.ObjectMeta{Labels: owner.Labels(), Annotations: map[string]string{translate.AnnotationUpperUID: "u-1"}},
		},
		{
			name: "existing labels and annotations kept, stale marks overwritten",
			in: metav1.ObjectMeta{
				Labels:      map[string]string{"app": "web", translate.LabelVirtualNode: "vk-old"},
				Annotations: map[string]string{"note": "x", translate.AnnotationUpperUID: "u-old"},
			},
			uid: "u-2",
			want: metav1.ObjectMeta{
				Labels:      map[string]string{"app": "web", translate.LabelVirtualNode: vnode, translate.LabelUpperCluster: "upper-1"},
				Annotations: map[string]string{"note": "x", translate.AnnotationUpperUID: "u-2"},
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
		{"only ours", map[string]string{translate.LabelVirtualNode: "vk", translate.LabelUpperCluster: "c", translate.AnnotationUpperUID: "u"}, nil},
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
