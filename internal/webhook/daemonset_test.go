package webhook

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tensile-kube/tensile/pkg/vnodeident"
)

var excl = expr("type", corev1.NodeSelectorOpNotIn, "virtual-kubelet")

func TestExcludeVirtualNodes(t *testing.T) {
	matchFields := corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{expr(vnodeident.FieldNodeName, corev1.NodeSelectorOpIn, "n1")}}
	for _, tc := range []struct {
		name string
		in   *corev1.Affinity
		want *corev1.Affinity
	}{
		{name: "no affinity: one term",
			want: requiredAff(nodeSelector(terms(excl)))},
		{name: "empty node affinity: one term",
			in:   &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{}},
			want: requiredAff(nodeSelector(terms(excl)))},
		{name: "preferred and pod anti-affinity are kept",
			in: &corev1.Affinity{PodAntiAffinity: antiAff, NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: preferTerm}},
			want: &corev1.Affinity{PodAntiAffinity: antiAff, NodeAffinity: &corev1.NodeAffinity{
				PreferredDuringSchedulingIgnoredDuringExecution: preferTerm,
				RequiredDuringSchedulingIgnoredDuringExecution:  nodeSelector(terms(excl)),
			}}},
		{name: "one term",
			in:   requiredAff(nodeSelector(terms(gpu))),
			want: requiredAff(nodeSelector(terms(gpu, excl)))},
		{name: "every term, since terms are ORed",
			in:   requiredAff(nodeSelector(terms(gpu), terms(zone, notVK))),
			want: requiredAff(nodeSelector(terms(gpu, excl), terms(zone, notVK, excl)))},
		{name: "a term that has it is left as is",
			in:   requiredAff(nodeSelector(terms(excl, gpu), terms(zone))),
			want: requiredAff(nodeSelector(terms(excl, gpu), terms(zone, excl)))},
		{name: "already excluded: unchanged",
			in:   requiredAff(nodeSelector(terms(gpu, excl), terms(excl))),
			want: requiredAff(nodeSelector(terms(gpu, excl), terms(excl)))},
		{name: "a similar requirement is not the exact one",
			in:   requiredAff(nodeSelector(terms(expr("type", corev1.NodeSelectorOpNotIn, "virtual-kubelet", "other")))),
			want: requiredAff(nodeSelector(terms(expr("type", corev1.NodeSelectorOpNotIn, "virtual-kubelet", "other"), excl)))},
		{name: "a term asking for virtual nodes then matches none",
			in:   requiredAff(nodeSelector(terms(virtual))),
			want: requiredAff(nodeSelector(terms(virtual, excl)))},
		{name: "matchFields-only term",
			in: requiredAff(nodeSelector(matchFields)),
			want: requiredAff(nodeSelector(corev1.NodeSelectorTerm{
				MatchExpressions: []corev1.NodeSelectorRequirement{excl}, MatchFields: matchFields.MatchFields,
			}))},
		{name: "an empty term matches no node and stays so",
			in:   requiredAff(nodeSelector(terms(), terms(gpu))),
			want: requiredAff(nodeSelector(terms(), terms(gpu, excl)))},
		{name: "a selector without terms (invalid) is left for validation",
			in:   requiredAff(nodeSelector()),
			want: requiredAff(nodeSelector())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.in.DeepCopy()
			got := ExcludeVirtualNodes(tc.in)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, tc.in); diff != "" {
				t.Errorf("input modified (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(got, ExcludeVirtualNodes(got)); diff != "" {
				t.Errorf("not idempotent (-once +twice):\n%s", diff)
			}
		})
	}
}

// daemonSet returns a kube-proxy-like DaemonSet: it tolerates every taint.
func daemonSet(mod func(*appsv1.DaemonSet)) *appsv1.DaemonSet {
	labels := map[string]string{"k8s-app": "kube-proxy"}
	ds := &appsv1.DaemonSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "DaemonSet"},
		ObjectMeta: metav1.ObjectMeta{Name: "kube-proxy", Namespace: "kube-system"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					HostNetwork: true,
					Containers:  []corev1.Container{{Name: "kube-proxy", Image: "registry.k8s.io/kube-proxy:v1.37.2"}},
					Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
				},
			},
		},
	}
	if mod != nil {
		mod(ds)
	}
	return ds
}

func annotated(value string) func(*appsv1.DaemonSet) {
	return func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Annotations = map[string]string{vnodeident.AnnotationDaemonSetPods: value}
	}
}

func withAffinity(aff *corev1.Affinity) func(*appsv1.DaemonSet) {
	return func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.Affinity = aff }
}

func TestMutateDaemonSet(t *testing.T) {
	allowed := annotated(vnodeident.ValueAllow)
	for _, tc := range []struct {
		name         string
		in           *appsv1.DaemonSet
		wantAffinity *corev1.Affinity // nil: the DaemonSet is unchanged
		wantWarnings []string         // substrings, one per warning
	}{
		{name: "tolerate-everything DaemonSet is kept off virtual nodes",
			in: daemonSet(nil), wantAffinity: requiredAff(nodeSelector(terms(excl)))},
		{name: "its own terms each get the exclusion",
			in:           daemonSet(withAffinity(requiredAff(nodeSelector(terms(gpu), terms(notVK))))),
			wantAffinity: requiredAff(nodeSelector(terms(gpu, excl), terms(notVK, excl)))},
		{name: "opted in: unchanged", in: daemonSet(allowed)},
		{name: "opted in but still excluded: unchanged, with a warning",
			in:           daemonSet(func(ds *appsv1.DaemonSet) { allowed(ds); withAffinity(requiredAff(nodeSelector(terms(excl))))(ds) }),
			wantWarnings: []string{"still has type NotIn [virtual-kubelet]"}},
		{name: "another annotation value does not opt in",
			in: daemonSet(annotated("true")), wantAffinity: requiredAff(nodeSelector(terms(excl))),
			wantWarnings: []string{`"true" is not "allow"`}},
		{name: "asking for virtual nodes by nodeSelector is warned about",
			in: daemonSet(func(ds *appsv1.DaemonSet) {
				ds.Spec.Template.Spec.NodeSelector = map[string]string{"type": "virtual-kubelet"}
			}),
			wantAffinity: requiredAff(nodeSelector(terms(excl))), wantWarnings: []string{"asks for virtual nodes"}},
		{name: "asking for virtual nodes by affinity is warned about",
			in:           daemonSet(withAffinity(requiredAff(nodeSelector(terms(virtual))))),
			wantAffinity: requiredAff(nodeSelector(terms(virtual, excl))), wantWarnings: []string{"asks for virtual nodes"}},
		{name: "tolerating the provider taint by key is warned about",
			in: daemonSet(func(ds *appsv1.DaemonSet) {
				ds.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: vnodeident.TaintProvider, Operator: corev1.TolerationOpExists}}
			}),
			wantAffinity: requiredAff(nodeSelector(terms(excl))), wantWarnings: []string{"asks for virtual nodes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.in.DeepCopy()
			got, warnings := MutateDaemonSet(tc.in)
			want := before.DeepCopy()
			if tc.wantAffinity != nil {
				want.Spec.Template.Spec.Affinity = tc.wantAffinity
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, tc.in); diff != "" {
				t.Errorf("input modified (-before +after):\n%s", diff)
			}
			if len(warnings) != len(tc.wantWarnings) {
				t.Fatalf("warnings %q, want %d", warnings, len(tc.wantWarnings))
			}
			for i, w := range tc.wantWarnings {
				if !strings.Contains(warnings[i], w) {
					t.Errorf("warning %q, want one containing %q", warnings[i], w)
				}
			}
			again, _ := MutateDaemonSet(got)
			if diff := cmp.Diff(got, again); diff != "" {
				t.Errorf("not idempotent (-once +twice):\n%s", diff)
			}
		})
	}
	if got, _ := MutateDaemonSet(nil); got != nil {
		t.Errorf("MutateDaemonSet(nil) = %v", got)
	}
}
