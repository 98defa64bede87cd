package provider_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/tensile-kube/tensile/internal/provider"
	"github.com/tensile-kube/tensile/pkg/vnodeident"
)

// TestDaemonSetPods: a DaemonSet's pod is refused (Failed with a reason and one Event,
// no lower pod) unless its template opted in; other controllers' pods are unaffected.
func TestDaemonSetPods(t *testing.T) {
	ds := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "kube-proxy", UID: "ds-uid", Controller: ptr.To(true)}
	rs := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-1", UID: "rs-uid", Controller: ptr.To(true)}
	for _, tc := range []struct {
		name        string
		owner       metav1.OwnerReference
		annotations map[string]string
		wantPod     bool
	}{
		{name: "DaemonSet pod refused", owner: ds},
		{name: "DaemonSet pod with another annotation value refused", owner: ds,
			annotations: map[string]string{vnodeident.AnnotationDaemonSetPods: "yes"}},
		{name: "DaemonSet pod that opted in runs", owner: ds,
			annotations: map[string]string{vnodeident.AnnotationDaemonSetPods: vnodeident.ValueAllow}, wantPod: true},
		{name: "ReplicaSet pod runs", owner: rs, wantPod: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, owner, upperDeps(), nil)
			pod := upperPod("web", "uid-1")
			pod.OwnerReferences = []metav1.OwnerReference{tc.owner}
			pod.Annotations = tc.annotations
			if _, err := e.upper.CoreV1().Pods("app").Create(e.ctx, pod, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			n := e.run(t)
			if err := e.p.CreatePod(e.ctx, pod); err != nil {
				t.Fatalf("CreatePod: %v", err)
			}
			if got := len(lowerPods(t, e)) == 1; got != tc.wantPod {
				t.Errorf("lower pod created = %v, want %v", got, tc.wantPod)
			}
			failed := n.find(func(p *corev1.Pod) bool {
				return p.Status.Phase == corev1.PodFailed && p.Status.Reason == provider.ReasonDaemonSetPod
			})
			var want []recordedEvent
			if !tc.wantPod {
				want = []recordedEvent{warning(provider.ReasonDaemonSetPod)}
				if failed == nil {
					t.Error("no Failed status with reason DaemonSetPodRefused notified")
				}
			} else if failed != nil {
				t.Errorf("notified %+v, want no refusal", failed.Status)
			}
			var got []recordedEvent
			for _, ev := range e.recorder.recorded() {
				if ev.Reason == provider.ReasonDaemonSetPod {
					got = append(got, ev)
				}
			}
			if diff := cmp.Diff(want, got, cmpEquateEmpty); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}
