package webhook

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/tensile-kube/tensile/pkg/constraints"
)

func expr(key string, op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorRequirement {
	return corev1.NodeSelectorRequirement{Key: key, Operator: op, Values: values}
}

func nodeSelector(terms ...corev1.NodeSelectorTerm) *corev1.NodeSelector {
	return &corev1.NodeSelector{NodeSelectorTerms: terms}
}

func terms(exprs ...corev1.NodeSelectorRequirement) corev1.NodeSelectorTerm {
	return corev1.NodeSelectorTerm{MatchExpressions: exprs}
}

func requiredAff(sel *corev1.NodeSelector) *corev1.Affinity {
	return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: sel}}
}

var (
	gpu        = expr("gpu", corev1.NodeSelectorOpIn, "a100")
	zone       = expr("topology.kubernetes.io/zone", corev1.NodeSelectorOpIn, "z1")
	virtual    = expr("type", corev1.NodeSelectorOpIn, "virtual-kubelet")
	notVK      = expr(corev1.LabelHostname, corev1.NodeSelectorOpNotIn, "vk-a")
	userTol    = corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "ml", Effect: corev1.TaintEffectNoSchedule}
	bounded    = corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)}
	preferTerm = []corev1.PreferredSchedulingTerm{{Weight: 10, Preference: terms(zone)}}
	antiAff    = &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{TopologyKey: corev1.LabelHostname}}}
)

func podWith(mod func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Labels: map[string]string{PodSelectorLabel: "true"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
	if mod != nil {
		mod(p)
	}
	return p
}

// withSaved returns pod with c saved as its constraints annotation.
func withSaved(t *testing.T, pod *corev1.Pod, c constraints.Constraints) *corev1.Pod {
	t.Helper()
	if err := constraints.Save(pod, &c); err != nil {
		t.Fatal(err)
	}
	return pod
}

type mutateCase struct {
	name         string
	in           *corev1.Pod
	exclusions   []string
	wantLower    constraints.Constraints
	wantSpec     func(*corev1.PodSpec) // applied to the input spec to build the expected one
	wantWarnings int
	wantErr      bool
}

// runMutateCases is the shared runner. Besides the table's expectations it checks
// that the input is untouched and that mutating the result again changes nothing.
func runMutateCases(t *testing.T, cases []mutateCase) {
	t.Helper()
	opts := DefaultOptions()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.in.DeepCopy()
			got, warnings, err := Mutate(tc.in, opts, tc.exclusions)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(before, tc.in); diff != "" {
				t.Errorf("input modified:\n%s", diff)
			}
			if err != nil {
				return
			}
			if len(warnings) != tc.wantWarnings {
				t.Errorf("warnings = %q, want %d", warnings, tc.wantWarnings)
			}
			lower, ok, err := constraints.Load(got)
			if err != nil || !ok {
				t.Fatalf("saved constraints: ok=%v err=%v", ok, err)
			}
			if diff := cmp.Diff(&tc.wantLower, lower); diff != "" {
				t.Errorf("saved constraints (-want +got):\n%s", diff)
			}
			want := tc.in.Spec.DeepCopy()
			want.NodeSelector, want.Tolerations = nil, nil
			tc.wantSpec(want)
			if diff := cmp.Diff(want, &got.Spec); diff != "" {
				t.Errorf("spec (-want +got):\n%s", diff)
			}
			again, _, err := Mutate(got, opts, tc.exclusions)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(got, again); diff != "" {
				t.Errorf("not idempotent (-once +twice):\n%s", diff)
			}
		})
	}
}

func upperTolerations(extra ...corev1.Toleration) []corev1.Toleration {
	return append(extra, DefaultOptions().Tolerations()...)
}

func TestMutate(t *testing.T) {
	runMutateCases(t, []mutateCase{
		{name: "plain pod gets tolerations and an empty record", in: podWith(nil),
			wantSpec: func(s *corev1.PodSpec) { s.Tolerations = upperTolerations() }},
		{name: "nodeSelector splits by key",
			in: podWith(func(p *corev1.Pod) {
				p.Spec.NodeSelector = map[string]string{"disk": "ssd", "type": "virtual-kubelet"}
			}),
			wantLower: constraints.Constraints{NodeSelector: map[string]string{"disk": "ssd"}},
			wantSpec: func(s *corev1.PodSpec) {
				s.NodeSelector = map[string]string{"type": "virtual-kubelet"}
				s.Tolerations = upperTolerations()
			}},
		{name: "tolerations move down, bounded not-ready is replaced",
			in:        podWith(func(p *corev1.Pod) { p.Spec.Tolerations = []corev1.Toleration{userTol, bounded} }),
			wantLower: constraints.Constraints{Tolerations: []corev1.Toleration{userTol, bounded}},
			wantSpec:  func(s *corev1.PodSpec) { s.Tolerations = upperTolerations() }},
		{name: "required affinity moves down, preferred and pod anti-affinity stay",
			in: podWith(func(p *corev1.Pod) {
				p.Spec.Affinity = requiredAff(nodeSelector(terms(gpu, zone)))
				p.Spec.Affinity.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution = preferTerm
				p.Spec.Affinity.PodAntiAffinity = antiAff
			}),
			wantLower: constraints.Constraints{NodeAffinity: nodeSelector(terms(gpu, zone))},
			wantSpec: func(s *corev1.PodSpec) {
				s.Affinity = &corev1.Affinity{
					NodeAffinity:    &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: preferTerm},
					PodAntiAffinity: antiAff,
				}
				s.Tolerations = upperTolerations()
			}},
		{name: "ignored keys stay upper within a term",
			in:        podWith(func(p *corev1.Pod) { p.Spec.Affinity = requiredAff(nodeSelector(terms(virtual, gpu, notVK))) }),
			wantLower: constraints.Constraints{NodeAffinity: nodeSelector(terms(gpu))},
			wantSpec: func(s *corev1.PodSpec) {
				s.Affinity = requiredAff(nodeSelector(terms(virtual, notVK)))
				s.Tolerations = upperTolerations()
			}},
		{name: "only ignored keys: nothing goes down",
			in: podWith(func(p *corev1.Pod) { p.Spec.Affinity = requiredAff(nodeSelector(terms(virtual))) }),
			wantSpec: func(s *corev1.PodSpec) {
				s.Affinity = requiredAff(nodeSelector(terms(virtual)))
				s.Tolerations = upperTolerations()
			}},
		{name: "matchFields stay upper",
			in: podWith(func(p *corev1.Pod) {
				p.Spec.Affinity = requiredAff(nodeSelector(corev1.NodeSelectorTerm{
					MatchExpressions: []corev1.NodeSelectorRequirement{gpu},
					MatchFields:      []corev1.NodeSelectorRequirement{expr("metadata.name", corev1.NodeSelectorOpIn, "vk-a")},
				}))
			}),
			wantLower: constraints.Constraints{NodeAffinity: nodeSelector(terms(gpu))},
			wantSpec: func(s *corev1.PodSpec) {
				s.Affinity = requiredAff(nodeSelector(corev1.NodeSelectorTerm{
					MatchFields: []corev1.NodeSelectorRequirement{expr("metadata.name", corev1.NodeSelectorOpIn, "vk-a")},
				}))
				s.Tolerations = upperTolerations()
			}},
		{name: "mixed terms split independently with a warning",
			in: podWith(func(p *corev1.Pod) {
				p.Spec.Affinity = requiredAff(nodeSelector(terms(virtual, gpu), terms(virtual, zone)))
			}),
			wantLower:    constraints.Constraints{NodeAffinity: nodeSelector(terms(gpu), terms(zone))},
			wantWarnings: 1,
			wantSpec: func(s *corev1.PodSpec) {
				s.Affinity = requiredAff(nodeSelector(terms(virtual), terms(virtual)))
				s.Tolerations = upperTolerations()
			}},
		{name: "a term without lower keys makes the lower side unconstrained",
			in:        podWith(func(p *corev1.Pod) { p.Spec.Affinity = requiredAff(nodeSelector(terms(gpu), terms(virtual))) }),
			wantLower: constraints.Constraints{},
			wantSpec: func(s *corev1.PodSpec) {
				s.Affinity = nil
				s.Tolerations = upperTolerations()
			}},
		{name: "exclusions are merged into the upper affinity",
			in:         podWith(func(p *corev1.Pod) { p.Spec.Affinity = requiredAff(nodeSelector(terms(gpu))) }),
			exclusions: []string{"vk-b", "vk-a"},
			wantLower:  constraints.Constraints{NodeAffinity: nodeSelector(terms(gpu))},
			wantSpec: func(s *corev1.PodSpec) {
				s.Affinity = requiredAff(nodeSelector(terms(expr(corev1.LabelHostname, corev1.NodeSelectorOpNotIn, "vk-a", "vk-b"))))
				s.Tolerations = upperTolerations()
			}},
		{name: "already mutated pod keeps its record and spec",
			in: withSaved(t, podWith(func(p *corev1.Pod) {
				p.Spec.Affinity = requiredAff(nodeSelector(terms(notVK)))
				p.Spec.Tolerations = []corev1.Toleration{userTol, bounded}
			}), constraints.Constraints{NodeSelector: map[string]string{"disk": "ssd"}}),
			wantLower: constraints.Constraints{NodeSelector: map[string]string{"disk": "ssd"}},
			wantSpec: func(s *corev1.PodSpec) {
				s.Affinity = requiredAff(nodeSelector(terms(notVK)))
				s.Tolerations = upperTolerations(userTol)
			}},
		{name: "malformed annotation is refused",
			in: podWith(func(p *corev1.Pod) { p.Annotations = map[string]string{constraints.Annotation: "{not json"} }), wantErr: true},
	})
}

func TestMutateNilPod(t *testing.T) {
	if _, _, err := Mutate(nil, DefaultOptions(), nil); err == nil {
		t.Error("nil pod accepted")
	}
}

func TestMutateEmptyIgnoreListSendsEverythingDown(t *testing.T) {
	in := podWith(func(p *corev1.Pod) {
		p.Spec.NodeSelector = map[string]string{"type": "virtual-kubelet"}
		p.Spec.Affinity = requiredAff(nodeSelector(terms(virtual)))
	})
	got, _, err := Mutate(in, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	lower, _, _ := constraints.Load(got)
	want := &constraints.Constraints{NodeSelector: map[string]string{"type": "virtual-kubelet"}, NodeAffinity: nodeSelector(terms(virtual))}
	if diff := cmp.Diff(want, lower); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got.Spec.NodeSelector != nil || got.Spec.Affinity != nil {
		t.Errorf("upper spec kept %v %v", got.Spec.NodeSelector, got.Spec.Affinity)
	}
}

func TestOptionsDrift(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want int
	}{
		{"defaults", DefaultOptions(), 0},
		{"an extra key", Options{IgnoreKeys: append(DefaultIgnoreKeys(), "example.com/pool")}, 0},
		{"hostname sent down", Options{IgnoreKeys: []string{"type", "kubernetes.io/role"}}, 1},
		{"nothing kept above", Options{}, 3},
		{"another taint", Options{IgnoreKeys: DefaultIgnoreKeys(), ProviderTaintKey: "example.com/virtual"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.opts.Drift(); len(got) != tc.want {
				t.Errorf("Drift() = %q, want %d notes", got, tc.want)
			}
		})
	}
}

// TestDefaultsAreCopies: a caller that changes a default it was given changes no one
// else's.
func TestDefaultsAreCopies(t *testing.T) {
	for name, get := range map[string]func() []string{
		"DefaultIgnoreKeys":   DefaultIgnoreKeys,
		"DefaultTrustedUsers": DefaultTrustedUsers,
		"DefaultOptions":      func() []string { return DefaultOptions().IgnoreKeys },
	} {
		want := strings.Join(get(), ",")
		got := get()
		got[0] = "changed"
		if again := strings.Join(get(), ","); again != want {
			t.Errorf("%s after a caller changed its copy: %q, want %q", name, again, want)
		}
	}
}
