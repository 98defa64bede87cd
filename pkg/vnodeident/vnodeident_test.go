package vnodeident

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

func req(key string, op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorRequirement {
	return corev1.NodeSelectorRequirement{Key: key, Operator: op, Values: values}
}

func exprs(rs ...corev1.NodeSelectorRequirement) corev1.NodeSelectorTerm {
	return corev1.NodeSelectorTerm{MatchExpressions: rs}
}

// isVK knows vk-a and vk-b, as the scheduler plugin knows every virtual node.
func isVK(name string) bool { return name == "vk-a" || name == "vk-b" }

const (
	in, notIn   = corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn
	exists, dne = corev1.NodeSelectorOpExists, corev1.NodeSelectorOpDoesNotExist
	gt          = corev1.NodeSelectorOpGt
)

func TestIsVirtualLabel(t *testing.T) {
	tests := []struct {
		name string
		id   Identity
		r    corev1.NodeSelectorRequirement
		want bool
	}{
		{"type In virtual-kubelet", Default(nil), req(LabelType, in, ValueVirtualKubelet), true},
		{"type In virtual-kubelet among others", Default(nil), req(LabelType, in, "edge", ValueVirtualKubelet), true},
		{"type In other values only", Default(nil), req(LabelType, in, "edge"), false},
		{"type Exists", Default(nil), req(LabelType, exists), true},
		{"type NotIn virtual-kubelet holds below too", Default(nil), req(LabelType, notIn, ValueVirtualKubelet), false},
		{"type DoesNotExist holds below too", Default(nil), req(LabelType, dne), false},
		{"role In agent", Default(nil), req(LabelRole, in, ValueAgent), true},
		{"role In worker", Default(nil), req(LabelRole, in, "worker"), false},
		{"role Exists", Default(nil), req(LabelRole, exists), true},
		{"configured label", Identity{Labels: map[string]string{"pool": "virtual"}}, req("pool", in, "virtual"), true},
		{"zero identity knows no label", Identity{}, req(LabelType, in, ValueVirtualKubelet), false},
		{"hostname In a virtual node", Default(isVK), req(LabelHostname, in, "vk-a"), true},
		{"hostname In a virtual and a lower node", Default(isVK), req(LabelHostname, in, "lower-1", "vk-b"), true},
		{"hostname In lower nodes only", Default(isVK), req(LabelHostname, in, "lower-1"), false},
		{"hostname In without name knowledge", Default(nil), req(LabelHostname, in, "vk-a"), false},
		{"hostname NotIn (the descheduler's exclusion)", Default(isVK), req(LabelHostname, notIn, "vk-a"), true},
		{"hostname NotIn a name the node does not know", ForNode("vk-a"), req(LabelHostname, notIn, "vk-b"), true},
		{"hostname NotIn without name knowledge", Default(nil), req(LabelHostname, notIn, "worker-1"), true},
		{"hostname Exists", Default(isVK), req(LabelHostname, exists), false},
		{"ForNode: its own name", ForNode("vk-a"), req(LabelHostname, in, "vk-a"), true},
		{"ForNode: another virtual node's name is unknown", ForNode("vk-a"), req(LabelHostname, in, "vk-b"), false},
		{"metadata.name is not a label", Default(isVK), req(FieldNodeName, in, "vk-a"), false},
		{"other key", Default(isVK), req("topology.kubernetes.io/zone", in, "vk-a"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.id.IsVirtualLabel(tc.r); got != tc.want {
				t.Errorf("IsVirtualLabel(%v) = %v, want %v", tc.r, got, tc.want)
			}
		})
	}
}

func TestIsVirtualField(t *testing.T) {
	tests := []struct {
		name string
		id   Identity
		r    corev1.NodeSelectorRequirement
		want bool
	}{
		{"In a virtual node (DaemonSet pods)", Default(isVK), req(FieldNodeName, in, "vk-b"), true},
		{"In a virtual and a lower node", Default(isVK), req(FieldNodeName, in, "vk-a", "lower-1"), true},
		{"In lower nodes only", Default(isVK), req(FieldNodeName, in, "lower-1"), false},
		{"In without name knowledge", Default(nil), req(FieldNodeName, in, "vk-a"), false},
		{"NotIn", Default(nil), req(FieldNodeName, notIn, "vk-a"), true},
		{"ForNode: its own name", ForNode("vk-a"), req(FieldNodeName, in, "vk-a"), true},
		{"Gt is no name list", Default(func(string) bool { return true }), req(FieldNodeName, gt, "1"), false},
		{"the hostname label is not a field", Default(isVK), req(LabelHostname, in, "vk-a"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.id.IsVirtualField(tc.r); got != tc.want {
				t.Errorf("IsVirtualField(%v) = %v, want %v", tc.r, got, tc.want)
			}
		})
	}
}

func TestIsVirtualSelectorEntry(t *testing.T) {
	id := ForNode("vk-a")
	tests := []struct {
		key, value string
		want       bool
	}{
		{LabelType, ValueVirtualKubelet, true},
		{LabelRole, ValueAgent, true},
		{LabelHostname, "vk-a", true},
		{LabelHostname, "worker-1", false},
		{LabelType, "gpu", false},
		{"disk", "ssd", false},
	}
	for _, tc := range tests {
		if got := id.IsVirtualSelectorEntry(tc.key, tc.value); got != tc.want {
			t.Errorf("IsVirtualSelectorEntry(%q, %q) = %v, want %v", tc.key, tc.value, got, tc.want)
		}
	}
}

func TestIsVirtualToleration(t *testing.T) {
	tests := []struct {
		name string
		tol  corev1.Toleration
		want bool
	}{
		{"provider taint, Exists", corev1.Toleration{Key: TaintProvider, Operator: corev1.TolerationOpExists}, true},
		{"provider taint, Equal", corev1.Toleration{Key: TaintProvider, Operator: corev1.TolerationOpEqual, Value: "tensile"}, true},
		{"other taint", corev1.Toleration{Key: "gpu", Operator: corev1.TolerationOpExists}, false},
		{"tolerate everything is not only about virtual nodes", corev1.Toleration{Operator: corev1.TolerationOpExists}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Default(nil).IsVirtualToleration(tc.tol); got != tc.want {
				t.Errorf("IsVirtualToleration(%v) = %v, want %v", tc.tol, got, tc.want)
			}
		})
	}
}

func TestLowerNodeSelector(t *testing.T) {
	zone := req("zone", in, "z1")
	disk := req("disk", exists)
	typeVK := req(LabelType, in, ValueVirtualKubelet)
	exclusion := req(LabelHostname, notIn, "vk-b")
	nameVK := req(FieldNodeName, in, "vk-a")
	nameLower := req(FieldNodeName, in, "lower-1")
	tests := []struct {
		name string
		in   *corev1.NodeSelector
		want *corev1.NodeSelector
	}{
		{"nil", nil, nil},
		{"no terms", &corev1.NodeSelector{}, nil},
		{"lower-only terms are kept whole",
			&corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{exprs(zone), exprs(disk)}},
			&corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{exprs(zone), exprs(disk)}}},
		{"virtual requirements leave each term",
			&corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{
				exprs(typeVK, zone, exclusion),
				{MatchExpressions: []corev1.NodeSelectorRequirement{disk}, MatchFields: []corev1.NodeSelectorRequirement{nameVK}},
				{MatchExpressions: []corev1.NodeSelectorRequirement{exclusion}, MatchFields: []corev1.NodeSelectorRequirement{nameLower}},
			}},
			&corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{
				exprs(zone), exprs(disk), {MatchFields: []corev1.NodeSelectorRequirement{nameLower}},
			}}},
		{"a term only about virtual nodes lets every node in",
			&corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{exprs(zone), exprs(typeVK, exclusion)}},
			nil},
		{"matchFields only about virtual nodes lets every node in",
			&corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{exprs(zone), {MatchFields: []corev1.NodeSelectorRequirement{nameVK}}}},
			nil},
		{"a term empty from the start still matches nothing",
			&corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{}, exprs(typeVK, zone)}},
			&corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{}, exprs(zone)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.in.DeepCopy()
			got := Default(isVK).LowerNodeSelector(tc.in)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("LowerNodeSelector (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, tc.in); diff != "" {
				t.Errorf("input modified:\n%s", diff)
			}
		})
	}
}

func TestLowerTerm(t *testing.T) {
	zone := req("zone", in, "z1")
	got, ok := ForNode("vk-a").LowerTerm(exprs(req(LabelRole, in, ValueAgent), zone))
	if !ok || !cmp.Equal(exprs(zone), got) {
		t.Errorf("LowerTerm = %v, %v; want %v, true", got, ok, exprs(zone))
	}
	if got, ok := ForNode("vk-a").LowerTerm(exprs(req(LabelHostname, in, "vk-a"))); ok {
		t.Errorf("LowerTerm of a term naming the node = %v, true; want false", got)
	}
	if _, ok := ForNode("vk-a").LowerTerm(corev1.NodeSelectorTerm{}); ok {
		t.Error("LowerTerm of an empty term constrains something")
	}
}

// TestUpperLabelKeysCoverDefault checks the webhook's contract: every label
// requirement Default calls virtual is on a key of UpperLabelKeys, so a webhook with
// that ignore list keeps it upper.
func TestUpperLabelKeysCoverDefault(t *testing.T) {
	id := Default(func(string) bool { return true })
	keys := []string{LabelType, LabelRole, LabelHostname, FieldNodeName, "zone", "kubernetes.io/os"}
	ops := []corev1.NodeSelectorOperator{in, notIn, exists, dne, gt, corev1.NodeSelectorOpLt}
	values := [][]string{nil, {ValueVirtualKubelet}, {ValueAgent}, {"vk-a"}, {"x", ValueVirtualKubelet}}
	upper := UpperLabelKeys()
	for _, k := range keys {
		for _, op := range ops {
			for _, v := range values {
				if r := req(k, op, v...); id.IsVirtualLabel(r) && !slices.Contains(upper, k) {
					t.Errorf("%v is virtual but %q is not in UpperLabelKeys %v", r, k, upper)
				}
			}
		}
	}
	for k := range Labels() {
		if !slices.Contains(upper, k) {
			t.Errorf("virtual-node label %q missing from UpperLabelKeys", k)
		}
	}
}

// TestFreshCopies guards the callers that extend what they get: the scheduler plugin
// adds its selector's labels to Default's map, the webhook hands its key list to a flag.
func TestFreshCopies(t *testing.T) {
	Default(nil).Labels["extra"] = "x"
	if _, ok := Labels()["extra"]; ok {
		t.Error("Labels shares its map between calls")
	}
	UpperLabelKeys()[0] = "changed"
	if UpperLabelKeys()[0] != LabelType {
		t.Error("UpperLabelKeys shares its slice between calls")
	}
}
