package capacity

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/tensile-kube/tensile/pkg/constraints"
)

func TestRelaxForSummary(t *testing.T) {
	hostIn := func(names ...string) corev1.NodeSelectorRequirement {
		return corev1.NodeSelectorRequirement{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: names}
	}
	zoneIn := corev1.NodeSelectorRequirement{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"z1"}}
	tests := []struct {
		name    string
		c       *constraints.Constraints
		wantSel map[string]string
		wantAff *corev1.NodeSelector
	}{
		{
			name: "ignored selector key and node-name field go",
			c: &constraints.Constraints{
				NodeSelector: map[string]string{corev1.LabelHostname: "n1", "zone": "z1"},
				NodeAffinity: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{
					{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"n1"}}}},
				}},
			},
			wantSel: map[string]string{"zone": "z1"},
		},
		{
			name:    "a selector on ignored keys only relaxes to nil",
			c:       &constraints.Constraints{NodeSelector: map[string]string{corev1.LabelHostname: "n1"}},
			wantSel: nil,
		},
		{
			name: "a term on an ignored key only lets every node in",
			c: &constraints.Constraints{NodeAffinity: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{
				{MatchExpressions: []corev1.NodeSelectorRequirement{hostIn("n1", "n2")}},
			}}},
		},
		{
			name: "a mixed term keeps its kept-key requirement",
			c: &constraints.Constraints{NodeAffinity: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{
				{MatchExpressions: []corev1.NodeSelectorRequirement{hostIn("n1"), zoneIn}},
				{MatchExpressions: []corev1.NodeSelectorRequirement{zoneIn}},
			}}},
			wantAff: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{
				{MatchExpressions: []corev1.NodeSelectorRequirement{zoneIn}},
				{MatchExpressions: []corev1.NodeSelectorRequirement{zoneIn}},
			}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sel, aff := relaxForSummary(tc.c, DefaultLabelPolicy())
			if diff := cmp.Diff(tc.wantSel, sel); diff != "" {
				t.Errorf("selector (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantAff, aff); diff != "" {
				t.Errorf("affinity (-want +got):\n%s", diff)
			}
		})
	}
}
