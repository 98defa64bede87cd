package lowerfit

import (
	"context"
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/tensile-kube/tensile/pkg/constraints"
)

// signature joins a pod's fragments the way the scheduler framework does (a JSON
// object keyed by fragment), or returns "" when the plugin refuses to sign.
func signature(t *testing.T, pl *Plugin, pod *corev1.Pod) string {
	t.Helper()
	frags, st := pl.SignPod(context.Background(), pod)
	if !st.IsSuccess() {
		if st.Code() != fwk.Unschedulable {
			t.Fatalf("SignPod: want Success or Unschedulable, got %v", st)
		}
		return ""
	}
	m := map[string]any{}
	for _, f := range frags {
		m[f.Key] = f.Value
	}
	return string(try(json.Marshal(m))(t))
}

func try[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// TestSignPod: pods that differ only in what the plugin does not read share a
// signature (so the scheduler may batch them); a different request or lower
// constraint gives another one; unreadable constraints give none.
func TestSignPod(t *testing.T) {
	pl, _ := newTestPlugin(t)
	zone := func(z string) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			_ = constraints.Save(p, &constraints.Constraints{NodeSelector: map[string]string{"topology.kubernetes.io/zone": z}})
		}
	}
	pod := func(name, cpu string, edits ...func(*corev1.Pod)) *corev1.Pod {
		p := upperPod(name, cpu)
		for _, e := range edits {
			e(p)
		}
		return p
	}
	base := signature(t, pl, pod("a", "1", zone("z1")))
	if base == "" {
		t.Fatal("a pod with readable constraints was not signed")
	}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		same bool
	}{
		{"another name and labels", pod("b", "1", zone("z1"), func(p *corev1.Pod) { p.Labels = map[string]string{"app": "x"} }), true},
		{"more CPU", pod("c", "2", zone("z1")), false},
		{"another saved zone", pod("d", "1", zone("z2")), false},
		{"no saved constraints", pod("e", "1"), false},
		{"another toleration", pod("f", "1", zone("z1"), func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpExists})
		}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := signature(t, pl, tc.pod)
			if got == "" {
				t.Fatal("not signed")
			}
			if (got == base) != tc.same {
				t.Errorf("signature equal to the base pod's: %v, want %v\n got: %s\nbase: %s", got == base, tc.same, got, base)
			}
		})
	}
	bad := pod("g", "1", func(p *corev1.Pod) { p.Annotations = map[string]string{constraints.Annotation: "{not json"} })
	if got := signature(t, pl, bad); got != "" {
		t.Errorf("a pod with a malformed constraints annotation was signed: %s", got)
	}
}
