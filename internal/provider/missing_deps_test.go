package provider_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/tensile-kube/tensile/internal/eventually"
	"github.com/tensile-kube/tensile/internal/provider"
	"github.com/tensile-kube/tensile/internal/translate"
)

// without returns upperDeps() minus the objects named kind/name ("Secret/creds").
func without(drop ...string) []runtime.Object {
	var out []runtime.Object
	for _, o := range upperDeps() {
		m, _ := o.(metav1.Object)
		if !slices.Contains(drop, kindOf(o)+"/"+m.GetName()) {
			out = append(out, o)
		}
	}
	return out
}

func kindOf(o runtime.Object) string {
	switch o.(type) {
	case *corev1.ConfigMap:
		return "ConfigMap"
	case *corev1.Secret:
		return "Secret"
	case *corev1.ServiceAccount:
		return "ServiceAccount"
	}
	return ""
}

// runWithPod creates upperPod("web"), changed by mod, above and runs the provider.
func runWithPod(t *testing.T, e *env, mod func(*corev1.Pod)) (*corev1.Pod, *notifications) {
	t.Helper()
	pod := upperPod("web", "uid-1")
	if mod != nil {
		mod(pod)
	}
	if _, err := e.upper.CoreV1().Pods("app").Create(e.ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return pod, e.run(t)
}

func warning(reason string) recordedEvent {
	return recordedEvent{Object: "app/web", UID: "uid-1", Type: corev1.EventTypeWarning, Reason: reason}
}

// TestCreatePodMissingUpperDependency: a dependency missing in the upper namespace
// keeps the lower pod from being created when it is required (as a kubelet would not
// start the pod) or when a foreign lower object of its name would stand in for it; a
// missing optional one is reported and the pod created.
func TestCreatePodMissingUpperDependency(t *testing.T) {
	foreignSecret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "app", UID: "foreign-creds"},
		Data: map[string][]byte{"p": []byte("lower")}}
	ourStaleSecret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "app", UID: "our-creds"},
		Data: map[string][]byte{"p": []byte("old")}}
	owner.Mark(ourStaleSecret, "up-creds-old")
	optionalCreds := func(p *corev1.Pod) { p.Spec.Containers[0].EnvFrom[0].SecretRef.Optional = ptr.To(true) }
	for _, tc := range []struct {
		name         string
		pod          func(*corev1.Pod) // changes to upperPod
		upper, lower []runtime.Object
		wantEvents   []recordedEvent
		wantErr      []string // what the waiting status names; nil: the pod does not wait
		wantPod      bool
		wantSecrets  []string // lower secrets afterwards
	}{
		{
			name:       "mandatory Secret",
			upper:      without("Secret/creds"),
			wantEvents: []recordedEvent{warning(provider.ReasonMandatorySecretNotFound)},
			wantErr:    []string{"Secret app/creds"},
		},
		{
			name:       "mandatory ConfigMap",
			upper:      without("ConfigMap/cfg"),
			wantEvents: []recordedEvent{warning(provider.ReasonMandatoryConfigMapNotFound)},
			wantErr:    []string{"ConfigMap app/cfg"},
		},
		{
			name: "PVC",
			pod: func(p *corev1.Pod) {
				p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{
					PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}})
			},
			upper:      upperDeps(),
			wantEvents: []recordedEvent{warning(provider.ReasonDependencyNotFound)},
			wantErr:    []string{"PersistentVolumeClaim app/data"},
		},
		{
			name:       "ServiceAccount, even with the lower cluster's own of the name below",
			upper:      without("ServiceAccount/builder"),
			lower:      objects(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder", Namespace: "app"}}),
			wantEvents: []recordedEvent{warning(provider.ReasonDependencyNotFound)},
			wantErr:    []string{"ServiceAccount app/builder"},
		},
		{
			name: "every missing one is reported, the optional one too",
			pod: func(p *corev1.Pod) {
				p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "registry"}}
				p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{
					PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}})
			},
			upper: objects(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "app"}}),
			wantEvents: []recordedEvent{
				warning(provider.ReasonMandatoryConfigMapNotFound),
				warning(provider.ReasonMandatorySecretNotFound),
				warning(provider.ReasonOptionalSecretNotFound),
				warning(provider.ReasonDependencyNotFound),
				warning(provider.ReasonDependencyNotFound),
			},
			wantErr: []string{"ConfigMap app/cfg", "Secret app/creds", "PersistentVolumeClaim app/data", "ServiceAccount app/builder"},
		},
		{
			name: "optional ConfigMap: created, event",
			pod: func(p *corev1.Pod) {
				p.Spec.Volumes[0].ConfigMap.Optional = ptr.To(true)
			},
			upper:       without("ConfigMap/cfg"),
			wantEvents:  []recordedEvent{warning(provider.ReasonOptionalConfigMapNotFound)},
			wantPod:     true,
			wantSecrets: []string{"app/creds"},
		},
		{
			name:        "image pull secret: optional",
			pod:         func(p *corev1.Pod) { p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "registry"}} },
			upper:       upperDeps(),
			wantEvents:  []recordedEvent{warning(provider.ReasonOptionalSecretNotFound)},
			wantPod:     true,
			wantSecrets: []string{"app/creds"},
		},
		{
			name:        "optional Secret with a foreign lower Secret of the name: not created",
			pod:         optionalCreds,
			upper:       without("Secret/creds"),
			lower:       objects(foreignSecret),
			wantEvents:  []recordedEvent{warning(provider.ReasonForeignObject)},
			wantErr:     []string{"Secret app/creds"},
			wantSecrets: []string{"app/creds"},
		},
		{
			name:       "optional Secret whose stale copy of ours is below: the copy goes, the pod is created",
			pod:        optionalCreds,
			upper:      without("Secret/creds"),
			lower:      objects(ourStaleSecret),
			wantEvents: []recordedEvent{warning(provider.ReasonOptionalSecretNotFound)},
			wantPod:    true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, owner, tc.upper, tc.lower)
			pod, n := runWithPod(t, e, tc.pod)
			if err := e.p.CreatePod(e.ctx, pod); err != nil {
				t.Errorf("CreatePod: %v; a pod waiting for a dependency is no error (virtual-kubelet would fail a restartPolicy Never pod)", err)
			}
			waiting := n.find(func(p *corev1.Pod) bool {
				return p.Status.Phase == corev1.PodPending && len(p.Status.ContainerStatuses) > 0 &&
					p.Status.ContainerStatuses[0].State.Waiting != nil &&
					p.Status.ContainerStatuses[0].State.Waiting.Reason == translate.ReasonCreateContainerConfigError
			})
			if (waiting != nil) != (tc.wantErr != nil) {
				t.Errorf("waiting status notified = %v, want %v", waiting != nil, tc.wantErr != nil)
			}
			for _, s := range tc.wantErr {
				if waiting == nil || !strings.Contains(waiting.Status.ContainerStatuses[0].State.Waiting.Message, s) {
					t.Errorf("waiting status %+v, want it to name %s", waiting, s)
				}
			}
			if tc.wantErr != nil {
				// Trying again while nothing changed records no new Events.
				if err := e.p.CreatePod(e.ctx, pod); err != nil {
					t.Errorf("CreatePod again: %v", err)
				}
			}
			if diff := cmp.Diff(tc.wantEvents, e.recorder.recorded(), cmpEquateEmpty); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if got := len(lowerPods(t, e)) == 1; got != tc.wantPod {
				t.Errorf("lower pod created = %v, want %v", got, tc.wantPod)
			}
			if diff := cmp.Diff(tc.wantSecrets, names(t)(e.lower.CoreV1().Secrets("").List(e.ctx, metav1.ListOptions{})), cmpEquateEmpty); diff != "" {
				t.Errorf("lower secrets (-want +got):\n%s", diff)
			}
			if tc.wantPod {
				return
			}
			// Nothing of the pod's is written below while it waits (the namespace aside).
			for _, w := range writes(e.lower) {
				if !strings.HasPrefix(w, "create namespaces ") {
					t.Errorf("lower write %q while the pod waits for its dependencies", w)
				}
			}
		})
	}
}

// TestCreatePodWaitsForSecret: the pod waits for its missing Secret, and the retry
// after it appears above copies it and creates the pod.
func TestCreatePodWaitsForSecret(t *testing.T) {
	e := newEnv(t, owner, without("Secret/creds"), nil)
	pod := upperPod("web", "uid-1")
	if err := e.p.CreatePod(e.ctx, pod); err != nil {
		t.Fatalf("CreatePod without its Secret = %v, want the pod to wait", err)
	}
	if diff := cmp.Diff([]recordedEvent{warning(provider.ReasonMandatorySecretNotFound)}, e.recorder.recorded()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if pods := lowerPods(t, e); len(pods) != 0 {
		t.Fatalf("lower pods = %v, want none", pods)
	}

	up := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "app", UID: "up-creds"}, Data: map[string][]byte{"p": []byte("x")}}
	if _, err := e.upper.CoreV1().Secrets("app").Create(e.ctx, up, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	lister := e.upperF.Core().V1().Secrets().Lister()
	eventually.True(t, 5*time.Second, "the upper Secret in the cache", func() bool { _, err := lister.Secrets("app").Get("creds"); return err == nil })

	if err := e.p.CreatePod(e.ctx, pod); err != nil {
		t.Fatalf("CreatePod once the Secret exists: %v", err)
	}
	if pods := lowerPods(t, e); len(pods) != 1 || translate.UpperUID(&pods[0]) != "uid-1" {
		t.Errorf("lower pods = %v, want the pod of uid-1", pods)
	}
	got, err := e.lower.CoreV1().Secrets("app").Get(e.ctx, "creds", metav1.GetOptions{})
	if err != nil || !owner.Owns(got) || translate.UpperUID(got) != "up-creds" || string(got.Data["p"]) != "x" {
		t.Errorf("lower Secret: %+v, %v; want our copy of the upper one", got, err)
	}
	if n := len(e.recorder.recorded()); n != 1 {
		t.Errorf("events = %+v, want no more after the retry", e.recorder.recorded())
	}
}

// TestCreatePodWaitsForLowerObjects: the pod waits, Pending with one Event and no
// lower pod, while the node's anchor Lease name is taken by a Lease that is not ours:
// without a controller of ours a lower controller could adopt the pod. (A claim copy
// being replaced is waited out the same way; the fake clientset has no pvc-protection
// to keep the old copy, so TestPersistentVolumeClaimIdentity proves that one on the
// test bed.)
func TestCreatePodWaitsForLowerObjects(t *testing.T) {
	for _, tc := range []struct {
		name       string
		upper      []runtime.Object
		lower      []runtime.Object
		wantReason string
		wantWhy    string
	}{
		{
			name: "a foreign Lease has the anchor's name",
			lower: objects(&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: owner.AnchorName(), Namespace: "app",
				Labels: map[string]string{"owner": "lower-admin"}}}),
			upper:      upperDeps(),
			wantReason: provider.ReasonForeignObject,
			wantWhy:    "anchor Lease app/" + owner.AnchorName(),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, owner, tc.upper, tc.lower)
			pod, n := runWithPod(t, e, nil)
			for range 2 { // trying again while nothing changed records no new Event
				if err := e.p.CreatePod(e.ctx, pod); err != nil {
					t.Errorf("CreatePod: %v; a waiting pod is no error (virtual-kubelet would fail a restartPolicy Never pod)", err)
				}
			}
			waiting := n.find(func(p *corev1.Pod) bool {
				return p.Status.Phase == corev1.PodPending && len(p.Status.ContainerStatuses) > 0 &&
					p.Status.ContainerStatuses[0].State.Waiting != nil &&
					strings.Contains(p.Status.ContainerStatuses[0].State.Waiting.Message, tc.wantWhy)
			})
			if waiting == nil {
				t.Errorf("no waiting status naming %q notified", tc.wantWhy)
			}
			if diff := cmp.Diff([]recordedEvent{warning(tc.wantReason)}, e.recorder.recorded()); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if n := len(lowerPods(t, e)); n != 0 {
				t.Errorf("%d lower pods created while the pod waits", n)
			}
		})
	}
}
