package capacity

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	v1helper "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"
	"sigs.k8s.io/randfill"

	"github.com/tensile-kube/tensile/internal/translate"
	"github.com/tensile-kube/tensile/internal/webhook"
	"github.com/tensile-kube/tensile/pkg/constraints"
	"github.com/tensile-kube/tensile/pkg/vnodeident"
)

// fuzzVocabulary keeps fuzzed strings among the keys and values the constraint rules
// treat specially (virtual-node labels, names and taint) and those the lower nodes of
// fuzzLowerNodes carry, so most requirements decide something.
var fuzzVocabulary = []string{
	"", vnodeident.LabelType, vnodeident.LabelRole, corev1.LabelHostname, vnodeident.TaintProvider,
	vnodeident.ValueVirtualKubelet, vnodeident.ValueAgent, "vk-a", "vk-b", "zone", "z1", "z2",
	"gpu", "disk", "ssd", "dedicated", "n1", "n3",
}

// fuzzLowerNodes is the lower cluster the fit answers are checked against: labels and
// taints from fuzzVocabulary, one of them a virtual node of the lower cluster's own.
func fuzzLowerNodes() []*corev1.Node {
	return []*corev1.Node{
		makeNode("n1", "4", "8Gi", withLabel("zone", "z1"), withLabel("type", "gpu")),
		makeNode("n2", "4", "8Gi", withLabel("zone", "z2"), withLabel("disk", "ssd"),
			withTaint("dedicated", "gpu", corev1.TaintEffectNoSchedule)),
		makeNode("n3", "4", "8Gi", withLabel("zone", "z1"), withLabel(vnodeident.LabelType, vnodeident.ValueVirtualKubelet),
			withTaint(vnodeident.TaintProvider, "lower", corev1.TaintEffectNoSchedule)),
		makeNode("n4", "4", "8Gi", withLabel("disk", "hdd"), withTaint("zone", "z2", corev1.TaintEffectNoExecute)),
	}
}

// fuzzUpperPod builds an upper pod bound to vk-a whose node constraints (and, when
// withSaved, saved lower constraints) are filled from data.
func fuzzUpperPod(data []byte, withSaved bool) *corev1.Pod {
	pick := func(c randfill.Continue, from []string) string { return from[c.Intn(len(from))] }
	f := randfill.NewFromGoFuzz(data).NilChance(0.3).NumElements(0, 3).MaxDepth(6).Funcs(
		func(s *string, c randfill.Continue) { *s = pick(c, fuzzVocabulary) },
		func(o *corev1.NodeSelectorOperator, c randfill.Continue) {
			*o = corev1.NodeSelectorOperator(pick(c, []string{"In", "NotIn", "Exists", "DoesNotExist"}))
		},
		func(o *corev1.TolerationOperator, c randfill.Continue) {
			*o = corev1.TolerationOperator(pick(c, []string{"Exists", "Equal"}))
		},
		func(e *corev1.TaintEffect, c randfill.Continue) {
			*e = corev1.TaintEffect(pick(c, []string{"", "NoSchedule", "PreferNoSchedule", "NoExecute"}))
		},
		func(r *corev1.NodeSelectorRequirement, c randfill.Continue) {
			c.FillNoCustom(r)
			if c.Bool() {
				r.Key = vnodeident.FieldNodeName // fields take only this key
			}
		},
	)
	var in struct {
		NodeSelector map[string]string
		Affinity     *corev1.NodeAffinity
		Tolerations  []corev1.Toleration
		Saved        constraints.Constraints
	}
	f.Fill(&in)
	p := makePod("p", "vk-a", "", "")
	p.Spec.NodeSelector, p.Spec.Tolerations = in.NodeSelector, in.Tolerations
	if in.Affinity != nil {
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: in.Affinity}
	}
	if withSaved {
		if err := constraints.Save(p, &in.Saved); err != nil {
			panic(err)
		}
	}
	return p
}

// FuzzFitQueryMatchesLowerPod checks, for any pod, that the scheduler's fit question
// is about the pod the lower cluster receives: the query's constraints are the node
// constraints translate.PodToLower writes into the lower pod, and the summary's answer
// agrees with asking every lower node directly about that lower pod. The pod is tried
// as the fuzzer made it, with its saved constraints, and as the webhook rewrites it.
func FuzzFitQueryMatchesLowerPod(f *testing.F) {
	f.Add([]byte{}, false, false)
	f.Add([]byte("a fairly long seed to fill several fields of the pod spec"), true, false)
	f.Add([]byte("another seed, this one sent through the webhook first!"), false, true)
	f.Add([]byte{0xff, 0x01, 0x7f, 0x20, 0x33, 0x90, 0x02, 0x11, 0x42, 0x07}, true, true)
	nodes := fuzzLowerNodes()
	m := NewModel(Options{})
	for _, n := range nodes {
		m.SetNode(n)
	}
	ix := NewIndex(m.Summary())
	f.Fuzz(func(t *testing.T, data []byte, withSaved, throughWebhook bool) {
		upper := fuzzUpperPod(data, withSaved)
		if throughWebhook {
			mutated, _, err := webhook.Mutate(upper, webhook.DefaultOptions(), nil)
			if err != nil {
				t.Fatalf("webhook: %v", err)
			}
			upper = mutated
		}
		lower, err := translate.PodToLower(upper, translate.PodOptions{Owner: translate.Owner{VirtualNode: "vk-a", UpperCluster: "u"}})
		if err != nil {
			t.Fatalf("PodToLower: %v", err)
		}
		carried := carriedConstraints(lower)
		// The virtual node knows only its own name; the scheduler plugin knows every
		// virtual node's. Both must judge the same lower pod wherever the names agree.
		for _, id := range []vnodeident.Identity{vnodeident.ForNode("vk-a"), vnodeident.Default(func(n string) bool { return n == "vk-a" || n == "vk-b" })} {
			q, err := QueryForPod(upper, id)
			if err != nil {
				t.Fatalf("QueryForPod: %v", err)
			}
			if id.IsVirtualNodeName("vk-a") && !id.IsVirtualNodeName("vk-b") {
				if diff := cmp.Diff(carried, q.Constraints, cmpopts.EquateEmpty()); diff != "" {
					t.Fatalf("fit query and lower pod disagree (-lower pod +query):\n%s", diff)
				}
			}
			q.Prepare(ix.LabelPolicy())
			checkFitAgainstNodes(t, ix.Fit(q).Fits(), lower, nodes)
		}
	})
}

// carriedConstraints reads back the node constraints a lower pod carries.
func carriedConstraints(lower *corev1.Pod) *constraints.Constraints {
	c := &constraints.Constraints{NodeSelector: lower.Spec.NodeSelector, Tolerations: lower.Spec.Tolerations}
	if a := lower.Spec.Affinity; a != nil && a.NodeAffinity != nil {
		c.NodeAffinity = a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	}
	return c
}

// checkFitAgainstNodes compares the summary's answer with the lower scheduler's own
// node-affinity and taint rules applied to the lower pod, node by node. The summary
// cannot see node names (the hostname label and metadata.name): with those in the
// constraints it may only err towards "fits".
func checkFitAgainstNodes(t *testing.T, summaryFits bool, lower *corev1.Pod, nodes []*corev1.Node) {
	t.Helper()
	matcher := nodeaffinity.GetRequiredNodeAffinity(lower)
	direct := false
	for _, n := range nodes {
		ok, err := matcher.Match(n)
		_, untolerated := v1helper.FindMatchingUntoleratedTaint(klog.Background(), n.Spec.Taints, lower.Spec.Tolerations, doNotSchedule, true)
		direct = direct || (err == nil && ok && !untolerated)
	}
	if direct && !summaryFits {
		t.Fatalf("a lower node takes the lower pod but the summary says no; constraints %+v", carriedConstraints(lower))
	}
	if !direct && summaryFits && !namesNodes(carriedConstraints(lower)) {
		t.Fatalf("no lower node takes the lower pod but the summary says yes; constraints %+v", carriedConstraints(lower))
	}
}

// namesNodes reports whether c has a requirement on node names, which a summary
// cannot check.
func namesNodes(c *constraints.Constraints) bool {
	if _, ok := c.NodeSelector[corev1.LabelHostname]; ok {
		return true
	}
	if c.NodeAffinity == nil {
		return false
	}
	for _, term := range c.NodeAffinity.NodeSelectorTerms {
		if len(term.MatchFields) > 0 {
			return true
		}
		for _, r := range term.MatchExpressions {
			if r.Key == corev1.LabelHostname {
				return true
			}
		}
	}
	return false
}
