package constraints_test

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

func TestLower(t *testing.T) {
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
			// The webhook keeps a requirement on "type" upper (an ignored key); it is
			// not about virtual nodes, so the lower pod carries it next to the saved
			// ones, and so must the fit check.
			name: "a required type NotIn gpu kept upper joins the saved constraints",
			spec: corev1.PodSpec{
				Affinity:    required(expr("type", corev1.NodeSelectorOpNotIn, "gpu")),
				Tolerations: []corev1.Toleration{vkToleration},
			},
			saved: &constraints.Constraints{NodeSelector: map[string]string{"zone": "z1"}, Tolerations: []corev1.Toleration{gpuToleration}},
			want: &constraints.Constraints{
				NodeSelector: map[string]string{"zone": "z1"},
				NodeAffinity: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{expr("type", corev1.NodeSelectorOpNotIn, "gpu")}},
				Tolerations:  []corev1.Toleration{gpuToleration},
			},
		},
		{
			name: "selector merged with saved winning, saved terms replace, tolerations appended once",
			spec: corev1.PodSpec{
				NodeSelector: map[string]string{"team": "x", "disk": "hdd"},
				Affinity:     required(expr("zone", corev1.NodeSelectorOpIn, "z2")),
				Tolerations:  []corev1.Toleration{gpuToleration},
			},
			saved: &constraints.Constraints{
				NodeSelector: map[string]string{"disk": "ssd"},
				NodeAffinity: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{expr("zone", corev1.NodeSelectorOpIn, "z1")}},
				Tolerations:  []corev1.Toleration{gpuToleration, vkToleration},
			},
			want: &constraints.Constraints{
				NodeSelector: map[string]string{"team": "x", "disk": "ssd"},
				NodeAffinity: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{expr("zone", corev1.NodeSelectorOpIn, "z1")}},
				Tolerations:  []corev1.Toleration{gpuToleration, vkToleration},
			},
		},
		{
			name:  "a saved affinity without terms replaces nothing",
			spec:  corev1.PodSpec{Affinity: required(expr("zone", corev1.NodeSelectorOpIn, "z1"))},
			saved: &constraints.Constraints{NodeAffinity: &corev1.NodeSelector{}},
			want: &constraints.Constraints{
				NodeAffinity: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{expr("zone", corev1.NodeSelectorOpIn, "z1")}},
			},
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
			got, err := constraints.Lower(pod, vnodeident.Default(isVirtual))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Lower (-want +got):\n%s", diff)
			}
			if got != nil && got.NodeAffinity != nil && pod.Spec.Affinity != nil && pod.Spec.Affinity.NodeAffinity != nil &&
				got.NodeAffinity == pod.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
				t.Error("result shares the pod's node selector")
			}
		})
	}
}
