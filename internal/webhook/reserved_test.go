package webhook

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/tensile-kube/tensile/pkg/constraints"
	"github.com/tensile-kube/tensile/pkg/placement"
	"github.com/tensile-kube/tensile/pkg/vnodeident"
)

// forged is what a pod's author might write: every key our components read, a
// user opt-in and an annotation of someone else's.
var forged = map[string]string{
	constraints.Annotation:              `{"nodeSelector":{"kubernetes.io/hostname":"lower-master"}}`,
	SealAnnotation:                      "forged",
	placement.ExclusionsAnnotation:      `[{"node":"vk-b","expiresAt":"2999-01-01T00:00:00Z"}]`,
	placement.RecreationsAnnotation:     "0",
	placement.OriginalNameAnnotation:    "victim",
	"tensile.dev/anything":              "x",
	vnodeident.AnnotationDaemonSetPods:  vnodeident.ValueAllow,
	"example.com/owned-by-someone-else": "kept",
}

// admit runs one pod CREATE by user through h and returns the admitted pod and the
// warnings.
func admit(t *testing.T, h *Handler, user string, pod *corev1.Pod) (*corev1.Pod, []string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, MutatePath, bytes.NewReader(reviewAs(t, user, admissionv1.Create, podResource, pod))))
	r := decodeResponse(t, rec)
	if !r.Allowed {
		t.Fatalf("denied: %+v", r.Result)
	}
	if r.Patch == nil {
		return pod, r.Warnings
	}
	return applyPatch(t, pod, r.Patch), r.Warnings
}

func TestReservedAnnotations(t *testing.T) {
	h := NewHandler(HandlerConfig{Options: DefaultOptions(), TrustedUsers: DefaultTrustedUsers()})
	userPod := func() *corev1.Pod {
		return podWith(func(p *corev1.Pod) {
			p.Annotations = map[string]string{}
			for k, v := range forged {
				p.Annotations[k] = v
			}
			p.Spec.NodeSelector = map[string]string{"disk": "ssd"}
		})
	}
	wantSaved := &constraints.Constraints{NodeSelector: map[string]string{"disk": "ssd"}}

	t.Run("a user's reserved annotations are dropped, with a warning naming them", func(t *testing.T) {
		got, warnings := admit(t, h, "alice", userPod())
		saved, _, err := constraints.Load(got)
		if err != nil || !cmp.Equal(wantSaved, saved) {
			t.Errorf("saved constraints %+v (%v), want the spec's %+v", saved, err, wantSaved)
		}
		for k := range forged {
			keep := !strings.HasPrefix(k, ReservedPrefix) || k == vnodeident.AnnotationDaemonSetPods
			if _, has := got.Annotations[k]; keep != has && k != constraints.Annotation && k != SealAnnotation {
				t.Errorf("annotation %s kept %v, want %v", k, has, keep)
			}
		}
		w := strings.Join(warnings, "\n")
		for _, k := range []string{constraints.Annotation, placement.ExclusionsAnnotation, placement.RecreationsAnnotation,
			placement.OriginalNameAnnotation, "tensile.dev/anything", SealAnnotation} {
			if !strings.Contains(w, k) {
				t.Errorf("warnings %q do not name %s", warnings, k)
			}
		}
		if strings.Contains(w, "example.com") || strings.Contains(w, "dropped annotations "+vnodeident.AnnotationDaemonSetPods) {
			t.Errorf("warnings %q name a kept annotation", warnings)
		}

		// The API server calls again (reinvocationPolicy IfNeeded), or the descheduler
		// copies the admitted pod: the sealed constraints are this webhook's, and stay.
		again, warnings := admit(t, h, "alice", got)
		if diff := cmp.Diff(got, again); diff != "" || len(warnings) != 0 {
			t.Errorf("second admission changed the pod (-first +second):\n%s\nwarnings %q", diff, warnings)
		}
		copied, _ := admit(t, h, "system:serviceaccount:kube-system:replicaset-controller", got)
		if copied.Annotations[constraints.Annotation] != got.Annotations[constraints.Annotation] {
			t.Errorf("sealed constraints re-saved on a copy: %s", copied.Annotations[constraints.Annotation])
		}
		// Another webhook process (another key) or another namespace: not ours.
		other := NewHandler(HandlerConfig{Options: DefaultOptions()})
		moved := got.DeepCopy()
		moved.Namespace = "elsewhere"
		for name, tc := range map[string]struct {
			h   *Handler
			pod *corev1.Pod
		}{"another key": {other, got}, "another namespace": {h, moved}} {
			_, warnings := admit(t, tc.h, "alice", tc.pod)
			if !strings.Contains(strings.Join(warnings, "\n"), constraints.Annotation) {
				t.Errorf("%s: sealed constraints kept, warnings %q", name, warnings)
			}
		}
	})
	t.Run("a trusted user's annotations are kept", func(t *testing.T) {
		got, warnings := admit(t, h, DefaultTrustedUsers()[0], userPod())
		if got.Annotations[constraints.Annotation] != forged[constraints.Annotation] || got.Annotations[placement.OriginalNameAnnotation] != "victim" {
			t.Errorf("annotations %v", got.Annotations)
		}
		if got.Annotations[SealAnnotation] == "forged" {
			t.Error("the seal was not recomputed")
		}
		if strings.Contains(strings.Join(warnings, "\n"), "dropped") {
			t.Errorf("warnings %q", warnings)
		}
	})
	t.Run("a malformed annotation from a user is replaced, not a denial", func(t *testing.T) {
		pod := podWith(func(p *corev1.Pod) { p.Annotations = map[string]string{constraints.Annotation: "]"} })
		got, _ := admit(t, h, "alice", pod)
		if _, _, err := constraints.Load(got); err != nil {
			t.Error(err)
		}
	})
}

func TestDropReserved(t *testing.T) {
	s := NewSealer([]byte("k"))
	if NewSealer([]byte("k")).Seal("ns", "v") != s.Seal("ns", "v") || NewSealer(nil).Seal("ns", "v") == s.Seal("ns", "v") {
		t.Error("seals do not follow the secret")
	}
	for _, tc := range []struct {
		name        string
		annotations map[string]string
		want        []string
	}{
		{name: "none", annotations: nil},
		{name: "user opt-in and foreign keys", annotations: map[string]string{vnodeident.AnnotationDaemonSetPods: "allow", "a/b": "c"}},
		{name: "constraints without a seal", annotations: map[string]string{constraints.Annotation: "{}"}, want: []string{constraints.Annotation}},
		{name: "sealed constraints", annotations: map[string]string{constraints.Annotation: "{}", SealAnnotation: s.Seal("ns", "{}")}},
		{name: "a seal of other constraints", annotations: map[string]string{constraints.Annotation: "{}", SealAnnotation: s.Seal("ns", "[]")},
			want: []string{constraints.Annotation, SealAnnotation}},
		{name: "the descheduler's keys", annotations: map[string]string{placement.RecreationsAnnotation: "0", placement.OriginalNameAnnotation: "x"},
			want: []string{placement.OriginalNameAnnotation, placement.RecreationsAnnotation}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := podWith(func(p *corev1.Pod) { p.Annotations = tc.annotations })
			before := pod.DeepCopy()
			got, dropped := DropReserved(pod, s)
			if diff := cmp.Diff(tc.want, dropped); diff != "" {
				t.Errorf("dropped (-want +got):\n%s", diff)
			}
			for _, k := range dropped {
				if _, has := got.Annotations[k]; has {
					t.Errorf("%s still there", k)
				}
			}
			if len(got.Annotations)+len(dropped) != len(tc.annotations) {
				t.Errorf("annotations %v, dropped %v, from %v", got.Annotations, dropped, tc.annotations)
			}
			if diff := cmp.Diff(before, pod); diff != "" {
				t.Errorf("input modified:\n%s", diff)
			}
		})
	}
}
