package capacity

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tensile-kube/tensile/pkg/constraints"
	"github.com/tensile-kube/tensile/pkg/vnodeident"
)

func required(terms ...corev1.NodeSelectorTerm) *corev1.Affinity {
	return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms}}}
}

func expr(key string, op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorTerm {
	return corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}}
}

func TestLowerConstraints(t *testing.T) {
	isVirtual := func(name string) bool { return name == "vk-a" || name == "vk-b" }
	vkToleration := corev1.Toleration{Key: "virtual-kubelet.io/provider", Operator: corev1.TolerationOpExists}
	gpuToleration := corev1.Toleration{Key: "gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
	saved := &constraints.Constraints{NodeSelector: map[string]string{"zone": "z1"}, Tolerations: []corev1.Toleration{gpuToleration}}
	tests := []struct {
		name    string
		spec    corev1.PodSpec
		saved   *constraints.Constraints
		want    *constraints.Constraints
		wantErr bool
	}{
		{
			name: "saved constraints win over the spec",
			spec: corev1.PodSpec{NodeSelector: map[string]string{"type": "virtual-kubelet"}}, saved: saved,
			want: saved,
		},
		{
			name: "virtual-node selector, hostname and toleration are dropped",
			spec: corev1.PodSpec{
				NodeSelector: map[string]string{"type": "virtual-kubelet", corev1.LabelHostname: "vk-a", "zone": "z1"},
				Tolerations:  []corev1.Toleration{vkToleration, gpuToleration},
			},
			want: &constraints.Constraints{NodeSelector: map[string]string{"zone": "z1"}, Tolerations: []corev1.Toleration{gpuToleration}},
		},
		{
			name: "hostname of a lower node is kept",
			spec: corev1.PodSpec{NodeSelector: map[string]string{corev1.LabelHostname: "lower-3"}},
			want: &constraints.Constraints{NodeSelector: map[string]string{corev1.LabelHostname: "lower-3"}},
		},
		{
			name: "a term only about the virtual node makes the affinity match anything",
			spec: corev1.PodSpec{Affinity: required(expr("type", corev1.NodeSelectorOpIn, "virtual-kubelet"), expr("zone", corev1.NodeSelectorOpIn, "z1"))},
			want: &constraints.Constraints{},
		},
		{
			// The pod is on vk-a, which satisfies the OR: lower-1 does not bind it below.
			name: "a hostname list naming a virtual node goes whole",
			spec: corev1.PodSpec{Affinity: required(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
				{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{"vk-a", "lower-1"}},
				{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"z1"}},
			}})},
			want: &constraints.Constraints{NodeAffinity: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{
				expr("zone", corev1.NodeSelectorOpIn, "z1")}}},
		},
		{
			name: "the descheduler's hostname exclusion goes",
			spec: corev1.PodSpec{Affinity: required(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
				{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpNotIn, Values: []string{"vk-b"}},
				{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"z1"}},
			}})},
			want: &constraints.Constraints{NodeAffinity: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{
				expr("zone", corev1.NodeSelectorOpIn, "z1")}}},
		},
		{
			name: "metadata.name fields naming virtual nodes go",
			spec: corev1.PodSpec{Affinity: required(corev1.NodeSelectorTerm{
				MatchFields:      []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"vk-b"}}},
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"z2"}}},
			})},
			want: &constraints.Constraints{NodeAffinity: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{
				expr("zone", corev1.NodeSelectorOpNotIn, "z2")}}},
		},
		{
			name: "lower-only affinity is kept whole",
			spec: corev1.PodSpec{Affinity: required(expr("zone", corev1.NodeSelectorOpIn, "z1"), expr("disk", corev1.NodeSelectorOpExists))},
			want: &constraints.Constraints{NodeAffinity: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{
				expr("zone", corev1.NodeSelectorOpIn, "z1"), expr("disk", corev1.NodeSelectorOpExists)}}},
		},
		{
			name: "type NotIn virtual-kubelet is about lower nodes too and stays",
			spec: corev1.PodSpec{Affinity: required(expr("type", corev1.NodeSelectorOpNotIn, "virtual-kubelet"))},
			want: &constraints.Constraints{NodeAffinity: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{
				expr("type", corev1.NodeSelectorOpNotIn, "virtual-kubelet")}}},
		},
		{
			name:    "malformed saved constraints are an error",
			spec:    corev1.PodSpec{},
			wantErr: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: tc.spec}
			if tc.saved != nil {
				if err := constraints.Save(pod, tc.saved); err != nil {
					t.Fatal(err)
				}
			}
			if tc.wantErr {
				pod.Annotations = map[string]string{constraints.Annotation: "{not json"}
			}
			got, err := LowerConstraints(pod, vnodeident.Default(isVirtual))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("LowerConstraints (-want +got):\n%s", diff)
			}
		})
	}
}

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
