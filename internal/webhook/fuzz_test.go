package webhook

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/randfill"

	"github.com/tensile-kube/tensile/pkg/constraints"
	"github.com/tensile-kube/tensile/pkg/placement"
)

// vocabulary keeps fuzzed strings among the values Mutate treats specially, so the
// fuzzer exercises ignored keys, the tolerations it rewrites and JSON pointer escapes.
var vocabulary = []string{
	"", "type", "kubernetes.io/role", corev1.LabelHostname, "gpu", "zone", "a/b~c",
	corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable, DefaultProviderTaintKey, "vk-a", "vk-b",
}

// fuzzPod builds a pod whose scheduling fields are filled from data.
func fuzzPod(data []byte) *corev1.Pod {
	pick := func(c randfill.Continue, from []string) string { return from[c.Intn(len(from))] }
	f := randfill.NewFromGoFuzz(data).NilChance(0.3).NumElements(0, 3).MaxDepth(6).Funcs(
		func(s *string, c randfill.Continue) { *s = pick(c, vocabulary) },
		func(o *corev1.NodeSelectorOperator, c randfill.Continue) {
			*o = corev1.NodeSelectorOperator(pick(c, []string{"In", "NotIn", "Exists", "DoesNotExist", "Gt"}))
		},
		func(o *corev1.TolerationOperator, c randfill.Continue) {
			*o = corev1.TolerationOperator(pick(c, []string{"", "Exists", "Equal"}))
		},
		func(e *corev1.TaintEffect, c randfill.Continue) {
			*e = corev1.TaintEffect(pick(c, []string{"", "NoSchedule", "PreferNoSchedule", "NoExecute"}))
		},
	)
	var spec struct {
		NodeSelector map[string]string
		Affinity     *corev1.Affinity
		Tolerations  []corev1.Toleration
		Annotations  map[string]string
	}
	f.Fill(&spec)
	p := podWith(nil)
	p.Annotations = spec.Annotations
	p.Spec.NodeSelector, p.Spec.Affinity, p.Spec.Tolerations = spec.NodeSelector, spec.Affinity, spec.Tolerations
	return p
}

func FuzzMutate(f *testing.F) {
	f.Add([]byte{}, "", "")
	f.Add([]byte("a fairly long seed to fill several fields of the pod spec"), "", "vk-a")
	f.Add([]byte{0xff, 0x01, 0x7f, 0x20, 0x33, 0x90, 0x02, 0x11}, `{"nodeSelector":{"gpu":"a100"}}`, "vk-b")
	f.Add([]byte("x"), "{", "vk-a")
	f.Fuzz(func(t *testing.T, data []byte, annotation, exclusion string) {
		in := fuzzPod(data)
		if annotation != "" {
			if in.Annotations == nil {
				in.Annotations = map[string]string{}
			}
			in.Annotations[constraints.Annotation] = annotation
		}
		var exclusions []string
		if exclusion != "" {
			exclusions = []string{exclusion}
		}
		checkMutation(t, in, exclusions)
	})
}

// checkMutation asserts Mutate's invariants on one input.
func checkMutation(t *testing.T, in *corev1.Pod, exclusions []string) {
	opts := DefaultOptions()
	before := in.DeepCopy()
	_, hadSaved, loadErr := constraints.Load(in)
	out, _, err := Mutate(in, opts, exclusions)
	if diff := cmp.Diff(before, in); diff != "" {
		t.Fatalf("input modified:\n%s", diff)
	}
	if (err != nil) != (loadErr != nil) {
		t.Fatalf("Mutate err = %v, but loading the annotation gave %v", err, loadErr)
	}
	if err != nil {
		return
	}
	lower, ok, err := constraints.Load(out)
	if err != nil || !ok {
		t.Fatalf("result has no loadable constraints: %v", err)
	}
	ignore := ignoreSet(opts.IgnoreKeys)
	if !hadSaved {
		checkFirstPass(t, in, out, lower, ignore)
	}
	for _, want := range opts.Tolerations() {
		if !slices.ContainsFunc(out.Spec.Tolerations, func(t corev1.Toleration) bool { return t.MatchToleration(&want) }) {
			t.Errorf("toleration %v missing from %v", want, out.Spec.Tolerations)
		}
	}
	for _, tol := range out.Spec.Tolerations {
		if (tol.Key == corev1.TaintNodeNotReady || tol.Key == corev1.TaintNodeUnreachable) && tol.TolerationSeconds != nil &&
			(tol.Effect == "" || tol.Effect == corev1.TaintEffectNoExecute) {
			t.Errorf("bounded toleration %v survived", tol)
		}
	}
	if len(exclusions) > 0 && !slices.Contains(placement.ExcludedNodes(out.Spec.Affinity), exclusions[0]) {
		t.Errorf("%s not excluded by %v", exclusions[0], out.Spec.Affinity)
	}
	again, _, err := Mutate(out, opts, exclusions)
	if err != nil {
		t.Fatalf("second pass: %v", err)
	}
	if diff := cmp.Diff(out, again); diff != "" {
		t.Fatalf("not idempotent (-once +twice):\n%s", diff)
	}
	checkPatch(t, in, out)
}

// checkFirstPass checks what a first pass must move down and keep up.
func checkFirstPass(t *testing.T, in, out *corev1.Pod, lower *constraints.Constraints, ignore map[string]bool) {
	wantSel := maps.Clone(in.Spec.NodeSelector)
	maps.DeleteFunc(wantSel, func(k, _ string) bool { return ignore[k] })
	if len(wantSel) == 0 {
		wantSel = nil
	}
	if diff := cmp.Diff(wantSel, lower.NodeSelector); diff != "" {
		t.Errorf("saved nodeSelector (-want +got):\n%s", diff)
	}
	if len(in.Spec.Tolerations) > 0 && !cmp.Equal(in.Spec.Tolerations, lower.Tolerations) {
		t.Errorf("saved tolerations %v, want %v", lower.Tolerations, in.Spec.Tolerations)
	}
	for k := range out.Spec.NodeSelector {
		if !ignore[k] {
			t.Errorf("lower key %q left in the upper nodeSelector", k)
		}
	}
	if lower.NodeAffinity != nil {
		for _, term := range lower.NodeAffinity.NodeSelectorTerms {
			for _, e := range term.MatchExpressions {
				if ignore[e.Key] {
					t.Errorf("ignored key %q sent down", e.Key)
				}
			}
		}
	}
}

// checkPatch asserts that the JSON patch between in and out reproduces out.
func checkPatch(t *testing.T, in, out *corev1.Pod) {
	ops, err := CreatePatch(in, out)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	// Compare after a JSON round trip on both sides: the API server only ever sends
	// JSON, where invalid UTF-8 in a string has already become U+FFFD.
	want, _ := json.Marshal(roundTrip(t, out))
	got, _ := json.Marshal(applyPatch(t, in, raw))
	if !bytes.Equal(want, got) {
		t.Fatalf("patched pod differs:\nwant %s\ngot  %s", want, got)
	}
}

func roundTrip(t *testing.T, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	out := &corev1.Pod{}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatal(err)
	}
	return out
}
