package placement

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

func notIn(values ...string) corev1.NodeSelectorRequirement {
	return corev1.NodeSelectorRequirement{Key: HostnameKey, Operator: corev1.NodeSelectorOpNotIn, Values: values}
}

func zoneIn(values ...string) corev1.NodeSelectorRequirement {
	return corev1.NodeSelectorRequirement{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: values}
}

func nameField(name string) corev1.NodeSelectorRequirement {
	return corev1.NodeSelectorRequirement{Key: "metadata.name", Operator: corev1.NodeSelectorOpNotIn, Values: []string{name}}
}

func required(terms ...corev1.NodeSelectorTerm) *corev1.Affinity {
	return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms},
	}}
}

func term(exprs ...corev1.NodeSelectorRequirement) corev1.NodeSelectorTerm {
	return corev1.NodeSelectorTerm{MatchExpressions: exprs}
}

var preferred = []corev1.PreferredSchedulingTerm{{Weight: 1, Preference: term(zoneIn("a"))}}

type affinityCase struct {
	name  string
	in    *corev1.Affinity
	nodes []string
	want  *corev1.Affinity
}

// runAffinityCases is the shared runner: it checks the result, that the input was
// not modified, and that applying the function again changes nothing.
func runAffinityCases(t *testing.T, fn func(*corev1.Affinity, []string) *corev1.Affinity, cases []affinityCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.in.DeepCopy()
			got := fn(tc.in, tc.nodes)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, tc.in); diff != "" {
				t.Errorf("input modified (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(got, fn(got, tc.nodes)); diff != "" {
				t.Errorf("not idempotent (-once +twice):\n%s", diff)
			}
		})
	}
}

func TestWithExcludedNodes(t *testing.T) {
	runAffinityCases(t, WithExcludedNodes, []affinityCase{
		{name: "no affinity creates a single term", nodes: []string{"vk-b", "vk-a"},
			want: required(term(notIn("vk-a", "vk-b")))},
		{name: "no nodes leaves the affinity alone", in: required(term(zoneIn("a"))),
			want: required(term(zoneIn("a")))},
		{name: "nil affinity and no nodes stays nil"},
		{name: "keeps preferred terms and pod affinity",
			in: &corev1.Affinity{
				NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: preferred},
				PodAffinity:  &corev1.PodAffinity{},
			},
			nodes: []string{"vk-a"},
			want: &corev1.Affinity{
				NodeAffinity: &corev1.NodeAffinity{
					PreferredDuringSchedulingIgnoredDuringExecution: preferred,
					RequiredDuringSchedulingIgnoredDuringExecution:  &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{term(notIn("vk-a"))}},
				},
				PodAffinity: &corev1.PodAffinity{},
			}},
		{name: "term with matchFields keeps them",
			in:    required(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{nameField("n1")}}),
			nodes: []string{"vk-a"},
			want: required(corev1.NodeSelectorTerm{
				MatchExpressions: []corev1.NodeSelectorRequirement{notIn("vk-a")},
				MatchFields:      []corev1.NodeSelectorRequirement{nameField("n1")},
			})},
		{name: "accumulates into an existing NotIn",
			in:    required(term(zoneIn("a"), notIn("user-node", "vk-a"))),
			nodes: []string{"vk-b", "vk-a"},
			want:  required(term(zoneIn("a"), notIn("user-node", "vk-a", "vk-b")))},
		{name: "folds a second hostname NotIn into the first",
			in:    required(term(notIn("x"), zoneIn("a"), notIn("y"))),
			nodes: []string{"vk-a"},
			want:  required(term(notIn("vk-a", "x", "y"), zoneIn("a")))},
		{name: "merges into every term",
			in:    required(term(zoneIn("a")), term(zoneIn("b"), notIn("vk-c"))),
			nodes: []string{"vk-a"},
			want:  required(term(zoneIn("a"), notIn("vk-a")), term(zoneIn("b"), notIn("vk-a", "vk-c")))},
		{name: "hostname In is kept beside the NotIn",
			in:    required(term(corev1.NodeSelectorRequirement{Key: HostnameKey, Operator: corev1.NodeSelectorOpIn, Values: []string{"vk-a"}})),
			nodes: []string{"vk-a"},
			want: required(term(corev1.NodeSelectorRequirement{Key: HostnameKey, Operator: corev1.NodeSelectorOpIn, Values: []string{"vk-a"}},
				notIn("vk-a")))},
		{name: "required with zero terms gets one", in: required(), nodes: []string{"vk-a"},
			want: required(term(notIn("vk-a")))},
		{name: "empty node names are ignored", in: required(term(zoneIn("a"))), nodes: []string{""},
			want: required(term(zoneIn("a")))},
	})
}

func TestWithoutExcludedNodes(t *testing.T) {
	runAffinityCases(t, WithoutExcludedNodes, []affinityCase{
		{name: "removes values and keeps the rest",
			in:    required(term(zoneIn("a"), notIn("vk-a", "vk-b"))),
			nodes: []string{"vk-a"},
			want:  required(term(zoneIn("a"), notIn("vk-b")))},
		{name: "drops an emptied expression",
			in:    required(term(zoneIn("a"), notIn("vk-a"))),
			nodes: []string{"vk-a"},
			want:  required(term(zoneIn("a")))},
		{name: "a term left unconstrained drops the required affinity",
			in:    required(term(notIn("vk-a")), term(zoneIn("b"), notIn("vk-a"))),
			nodes: []string{"vk-a"}},
		{name: "keeps preferred when required goes",
			in: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution:  &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{term(notIn("vk-a"))}},
				PreferredDuringSchedulingIgnoredDuringExecution: preferred,
			}},
			nodes: []string{"vk-a"},
			want:  &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: preferred}}},
		{name: "undoes WithExcludedNodes", in: WithExcludedNodes(required(term(zoneIn("a"))), []string{"vk-a"}),
			nodes: []string{"vk-a"}, want: required(term(zoneIn("a")))},
		{name: "nil stays nil", nodes: []string{"vk-a"}},
	})
}

func TestExcludedNodes(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   *corev1.Affinity
		want []string
	}{
		{name: "nil"},
		{name: "one term", in: required(term(notIn("b", "a"))), want: []string{"a", "b"}},
		{name: "only nodes excluded in every term count",
			in: required(term(notIn("a", "b")), term(zoneIn("z"), notIn("b"))), want: []string{"b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, ExcludedNodes(tc.in)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
