package provider_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/tensile-kube/tensile/internal/eventually"
	"github.com/tensile-kube/tensile/internal/provider"
	"github.com/tensile-kube/tensile/internal/translate"
)

// TestCreatePod: the lower namespace (marked; annotated with its upper name when
// mapped), then the pod's ConfigMap, Secret and ServiceAccount (not "default"), then the
// translated pod are created below.
func TestCreatePod(t *testing.T) {
	for _, tc := range []struct {
		name    string
		owner   translate.Owner
		lowerNS string
		nsNotes map[string]string // annotations of the lower namespace
	}{
		{name: "same namespace names", owner: owner, lowerNS: "app"},
		{name: "namespace map", owner: mappedOwner(t), lowerNS: "app-upper-1",
			nsNotes: map[string]string{translate.AnnotationUpperNamespace: "app"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.owner, upperDeps(), nil)
			ns := tc.lowerNS
			if err := e.p.CreatePod(e.ctx, upperPod("web", "uid-1")); err != nil {
				t.Fatalf("CreatePod: %v", err)
			}
			ctx := context.Background()

			gotNS, err := e.lower.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("lower namespace: %v", err)
			}
			wantNS := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: owner.Labels(), Annotations: tc.nsNotes}}
			if diff := cmp.Diff(wantNS, gotNS, ignoreServerFields); diff != "" {
				t.Errorf("lower namespace (-want +got):\n%s", diff)
			}
			for _, c := range []struct {
				what string
				got  []string
				want []string
			}{
				{"namespaces", names(t)(e.lower.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})), []string{ns}},
				{"configmaps", names(t)(e.lower.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{})), []string{ns + "/cfg"}},
				{"secrets", names(t)(e.lower.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})), []string{ns + "/creds"}},
				{"serviceaccounts (no default)", names(t)(e.lower.CoreV1().ServiceAccounts("").List(ctx, metav1.ListOptions{})), []string{ns + "/builder"}},
			} {
				if diff := cmp.Diff(c.want, c.got); diff != "" {
					t.Errorf("lower %s (-want +got):\n%s", c.what, diff)
				}
			}
			cm, err := e.lower.CoreV1().ConfigMaps(ns).Get(ctx, "cfg", metav1.GetOptions{})
			if err == nil && (!tc.owner.Owns(cm) || translate.UpperUID(cm) != "up-cfg") {
				t.Errorf("lower ConfigMap not marked as ours: labels %v annotations %v", cm.Labels, cm.Annotations)
			}

			// The pod's controller is the node's anchor Lease in its namespace: no lower
			// controller adopts it.
			anchor, err := e.lower.CoordinationV1().Leases(ns).Get(ctx, tc.owner.AnchorName(), metav1.GetOptions{})
			if err != nil || !tc.owner.Owns(anchor) {
				t.Fatalf("anchor Lease %s/%s: %v, labels %v; want one of ours", ns, tc.owner.AnchorName(), err, anchor.GetLabels())
			}
			want := []corev1.Pod{{
				ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns,
					Labels:          map[string]string{"app": "web", "version": "v1", translate.LabelVirtualNode: "vk-node", translate.LabelUpperCluster: "upper-1"},
					Annotations:     map[string]string{translate.AnnotationUpperUID: "uid-1", translate.AnnotationNamespaceMap: tc.owner.Namespaces.String()},
					OwnerReferences: []metav1.OwnerReference{translate.AnchorReference(anchor)}},
				Spec: corev1.PodSpec{
					ServiceAccountName:           "builder",
					AutomountServiceAccountToken: ptr.To(false),
					Containers:                   upperPod("web", "").Spec.Containers,
					Volumes:                      upperPod("web", "").Spec.Volumes,
				},
			}}
			if diff := cmp.Diff(want, lowerPods(t, e), ignoreServerFields); diff != "" {
				t.Errorf("lower pods (-want +got):\n%s", diff)
			}

			// Order: the namespace first, every dependency before the pod.
			w := writes(e.lower)
			podAt := slices.Index(w, "create pods "+ns+"/web")
			if podAt < 0 || podAt != len(w)-1 {
				t.Fatalf("lower writes %q: want the pod created last", w)
			}
			if !strings.HasPrefix(w[0], "create namespaces ") {
				t.Errorf("lower writes %q: want the namespace created first", w)
			}
			for _, dep := range []string{"create configmaps " + ns + "/cfg", "create secrets " + ns + "/creds", "create serviceaccounts " + ns + "/builder"} {
				if i := slices.Index(w, dep); i < 0 || i > podAt {
					t.Errorf("lower writes %q: want %q before the pod", w, dep)
				}
			}
		})
	}
}

// TestCreatePodNameCollision: what CreatePod does when the lower cluster already has a
// pod of the name. It never returns an error to virtual-kubelet (which would fail a
// restartPolicy Never pod on a passing error and write into its informer's object): a
// foreign pod is a permanent refusal the node reports itself; a stale pod of ours is
// deleted with its own grace period, and the pod waits until it is gone.
func TestCreatePodNameCollision(t *testing.T) {
	otherNode := map[string]string{translate.LabelVirtualNode: "vk-other", translate.LabelUpperCluster: owner.UpperCluster}
	refused := []recordedEvent{
		{Object: "app/web", UID: "uid-1", Type: corev1.EventTypeWarning, Reason: provider.ReasonForeignPod},
		{Object: "app/web", UID: "uid-1", Type: corev1.EventTypeWarning, Reason: provider.ReasonProviderFailed},
	}
	for _, tc := range []struct {
		name        string
		existing    *corev1.Pod
		never       bool // restartPolicy Never
		wantEvents  []recordedEvent
		wantDeletes []string
		wantLeft    bool // the existing pod is still there, unchanged
		replaced    bool // the node's retry replaces it (the fake deletes at once)
		wantPhase   corev1.PodPhase
	}{
		{
			name:       "foreign pod: refused, events, untouched, Pending",
			existing:   foreignPod("app", "web", nil),
			wantEvents: refused,
			wantLeft:   true,
			wantPhase:  corev1.PodPending,
		},
		{
			name:       "foreign pod, restartPolicy Never: Failed",
			existing:   foreignPod("app", "web", nil),
			never:      true,
			wantEvents: refused,
			wantLeft:   true,
			wantPhase:  corev1.PodFailed,
		},
		{
			name:       "another virtual node's pod is foreign too",
			existing:   foreignPod("app", "web", otherNode),
			wantEvents: refused,
			wantLeft:   true,
			wantPhase:  corev1.PodPending,
		},
		{
			name:     "ours for the same upper UID: adopted",
			existing: ownedPod(owner, "web", "uid-1", "lower-1"),
			wantLeft: true,
		},
		{
			name:        "ours for an older upper UID: deleted with its own grace period and a UID precondition; the pod waits",
			existing:    ownedPod(owner, "web", "uid-0", "lower-0"),
			never:       true,
			wantEvents:  []recordedEvent{{Object: "app/web", UID: "uid-1", Type: corev1.EventTypeNormal, Reason: provider.ReasonPreviousPodTerminating}},
			wantDeletes: []string{"app/web grace=none uid=lower-0"},
			replaced:    true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, owner, upperDeps(), []runtime.Object{tc.existing})
			var mod func(*corev1.Pod)
			if tc.never {
				mod = neverRestart
			}
			pod, n := runWithPod(t, e, mod)
			before := pod.DeepCopy()
			if err := e.p.CreatePod(e.ctx, pod); err != nil {
				t.Errorf("CreatePod: %v; want no error for virtual-kubelet", err)
			}
			if tc.replaced {
				eventually.True(t, 5*time.Second, "the lower pod for uid-1, once the stale one is gone", func() bool {
					got := lowerPods(t, e)
					return len(got) == 1 && translate.UpperUID(&got[0]) == "uid-1"
				})
			}
			// (When reconcile saw the stale pod first, as an orphan of an upper pod that is
			// gone, it deleted it the same way, and CreatePod found no pod in the way.)
			if got := e.recorder.recorded(); !(tc.replaced && len(got) == 0) {
				if diff := cmp.Diff(tc.wantEvents, got, cmpEquateEmpty); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
			}
			if diff := cmp.Diff(tc.wantDeletes, deletes(e.lower, "pods"), cmpEquateEmpty); diff != "" {
				t.Errorf("lower pod deletes (-want +got):\n%s", diff)
			}
			var want []corev1.Pod
			if tc.wantLeft {
				want = []corev1.Pod{*tc.existing}
			}
			if diff := cmp.Diff(want, lowerPods(t, e), ignoreServerMeta); diff != "" && !tc.replaced {
				t.Errorf("lower pods (-want +got):\n%s", diff)
			}
			for _, w := range writes(e.lower) {
				if strings.HasPrefix(w, "update pods") || strings.HasPrefix(w, "patch pods") {
					t.Errorf("lower pod written: %s", w)
				}
			}
			if diff := cmp.Diff(before, pod); diff != "" {
				t.Errorf("the pod handed to CreatePod was changed (-before +after):\n%s", diff)
			}
			if tc.wantPhase != "" {
				got := n.find(func(p *corev1.Pod) bool { return p.Status.Reason == provider.ReasonProviderFailed })
				if got == nil || got.Status.Phase != tc.wantPhase || !strings.Contains(got.Status.Message, "did not create") {
					t.Errorf("published status %+v, want phase %s, reason %s and the lower message", got, tc.wantPhase, provider.ReasonProviderFailed)
				}
			}
		})
	}
}

// TestCreatePodReplacesStalePod: once the stale lower pod of an earlier upper pod is
// gone, the node's own retry creates the pod for the current upper UID.
func TestCreatePodReplacesStalePod(t *testing.T) {
	e := newEnv(t, owner, upperDeps(), []runtime.Object{ownedPod(owner, "web", "uid-0", "lower-0")})
	pod := upperPod("web", "uid-1")
	if _, err := e.upper.CoreV1().Pods("app").Create(e.ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.run(t)
	if err := e.p.CreatePod(e.ctx, pod); err != nil {
		t.Fatalf("CreatePod over a stale lower pod: %v, want none (the node retries)", err)
	}
	eventually.True(t, 5*time.Second, "the pod for uid-1 below, created by the node's retry", func() bool {
		got, err := e.lower.CoreV1().Pods("app").Get(context.Background(), "web", metav1.GetOptions{})
		return err == nil && translate.UpperUID(got) == "uid-1" && got.UID != "lower-0"
	})
}

// TestCreatePodNamespaceTooLong: an upper namespace whose mapped name exceeds 63
// characters fails with an InvalidInput error naming --upper-cluster-id, and nothing
// is created below; at exactly 63 characters the pod is created.
func TestCreatePodNamespaceTooLong(t *testing.T) {
	long := translate.Owner{VirtualNode: "vk-node", UpperCluster: strings.Repeat("c", 40)}
	var err error
	if long.Namespaces, err = translate.ParseNamespaceMap("{namespace}-{cluster}", long); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		upperNS string // + "-" + 40 characters
		wantErr bool
	}{
		{upperNS: strings.Repeat("n", 22)}, // 63
		{upperNS: strings.Repeat("n", 23), wantErr: true},
	} {
		t.Run(tc.upperNS, func(t *testing.T) {
			pod := upperPod("web", "uid-1")
			pod.Namespace = tc.upperNS
			pod.Spec.ServiceAccountName = "" // no dependencies: only the namespace and the pod
			pod.Spec.Containers[0].EnvFrom = nil
			pod.Spec.Volumes = nil
			e := newEnv(t, long, nil, nil)
			err := e.p.CreatePod(e.ctx, pod)
			w := writes(e.lower)
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("CreatePod in a namespace mapped to 63 characters: %v", err)
				}
				if len(w) != 3 {
					t.Errorf("lower writes = %q, want the namespace, the anchor Lease and the pod", w)
				}
				return
			}
			if err != nil {
				t.Errorf("CreatePod error = %v, want none: the node refuses the pod itself", err)
			}
			ev := e.recorder.recorded()
			msg := <-e.recorder.Events
			if len(ev) != 1 || ev[0].Reason != provider.ReasonProviderFailed || !strings.Contains(msg, "--upper-cluster-id") {
				t.Errorf("events %v (%q), want one %s naming --upper-cluster-id", ev, msg, provider.ReasonProviderFailed)
			}
			if len(w) != 0 {
				t.Errorf("lower writes = %q, want none", w)
			}
		})
	}
}

// TestGetPods: only the lower pods carrying this owner's marks, in the namespaces of its
// map, are reported, under their upper namespace and UID, without our marks.
func TestGetPods(t *testing.T) {
	o := mappedOwner(t)
	running := corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.5", HostIP: "192.168.0.1"}
	ours := ownedPod(o, "web", "uid-1", "lower-1")
	ours.Spec.NodeName = "lower-node-1"
	ours.Status = running
	strayNS := ownedPod(o, "stray", "uid-2", "lower-2")
	strayNS.Namespace = "app" // our marks, but outside the map
	sysNS := ownedPod(o, "sys", "uid-3", "lower-3")
	sysNS.Namespace = "kube-system"
	lower := objects(
		ours,
		foreignPod("app-upper-1", "foreign", nil),
		foreignPod("app-upper-1", "other-node", map[string]string{translate.LabelVirtualNode: "vk-other", translate.LabelUpperCluster: "upper-1"}),
		foreignPod("app-upper-1", "other-cluster", map[string]string{translate.LabelVirtualNode: "vk-node", translate.LabelUpperCluster: "upper-2"}),
		foreignPod("app-upper-1", "half-marked", map[string]string{translate.LabelVirtualNode: "vk-node"}),
		strayNS, sysNS,
	)
	e := newEnv(t, o, nil, lower)

	wantView := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "app", UID: "uid-1", Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{NodeName: "lower-node-1", Containers: []corev1.Container{{Name: "web", Image: "nginx:1"}}},
		Status:     running,
	}
	compareView := ignoreServerMeta

	pods, err := e.p.GetPods(e.ctx)
	if err != nil {
		t.Fatalf("GetPods: %v", err)
	}
	if diff := cmp.Diff([]*corev1.Pod{wantView}, pods, compareView); diff != "" {
		t.Errorf("GetPods (-want +got):\n%s", diff)
	}
	got, err := e.p.GetPod(e.ctx, "app", "web")
	if err != nil {
		t.Fatalf("GetPod app/web: %v", err)
	}
	if diff := cmp.Diff(wantView, got, compareView); diff != "" {
		t.Errorf("GetPod app/web (-want +got):\n%s", diff)
	}
	st, err := e.p.GetPodStatus(e.ctx, "app", "web")
	if err != nil {
		t.Fatalf("GetPodStatus app/web: %v", err)
	}
	if diff := cmp.Diff(&running, st); diff != "" {
		t.Errorf("GetPodStatus app/web (-want +got):\n%s", diff)
	}

	for _, name := range []string{"foreign", "other-node", "other-cluster", "half-marked", "stray", "sys", "missing"} {
		if p, err := e.p.GetPod(e.ctx, "app", name); !errdefs.IsNotFound(err) || p != nil {
			t.Errorf("GetPod app/%s = %v, %v; want nil and a NotFound error", name, p, err)
		}
		if s, err := e.p.GetPodStatus(e.ctx, "app", name); !errdefs.IsNotFound(err) || s != nil {
			t.Errorf("GetPodStatus app/%s = %v, %v; want nil and a NotFound error", name, s, err)
		}
	}
	// A lookup by the lower namespace's name does not find the pod either.
	if _, err := e.p.GetPod(e.ctx, "app-upper-1", "web"); !errdefs.IsNotFound(err) {
		t.Errorf("GetPod app-upper-1/web: %v, want NotFound", err)
	}

	owned, err := e.p.OwnedLowerPods()
	if err != nil {
		t.Fatal(err)
	}
	var ownedKeys []string
	for _, p := range owned {
		ownedKeys = append(ownedKeys, objKey(p.Namespace, p.Name))
	}
	slices.Sort(ownedKeys)
	if diff := cmp.Diff([]string{"app-upper-1/web", "app/stray", "kube-system/sys"}, ownedKeys); diff != "" {
		t.Errorf("OwnedLowerPods (marked pods, any namespace; the views must not strip the cached pods' marks) (-want +got):\n%s", diff)
	}
}

// TestUpperName: the upper pod a lower pod runs for, for pods of ours only.
func TestUpperName(t *testing.T) {
	o := mappedOwner(t)
	e := newEnv(t, o, nil, nil)
	stray := ownedPod(o, "stray", "uid-2", "lower-2")
	stray.Namespace = "app"
	for _, tc := range []struct {
		name   string
		lower  *corev1.Pod
		want   types.NamespacedName
		wantOK bool
	}{
		{"ours in a mapped namespace", ownedPod(o, "web", "uid-1", "l"), types.NamespacedName{Namespace: "app", Name: "web"}, true},
		{"foreign", foreignPod("app-upper-1", "web", nil), types.NamespacedName{}, false},
		{"another virtual node's", foreignPod("app-upper-1", "web", map[string]string{translate.LabelVirtualNode: "vk-other", translate.LabelUpperCluster: "upper-1"}), types.NamespacedName{}, false},
		{"ours outside the map", stray, types.NamespacedName{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := e.p.UpperName(tc.lower)
			if ok != tc.wantOK || (ok && got != tc.want) {
				t.Errorf("UpperName = %v, %v; want %v, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

// TestGetPodReturnsAppliedUpperPod: once a pod is created, GetPod returns the upper pod
// that was applied (so virtual-kubelet's comparison finds nothing to update) with the
// lower pod's status.
func TestGetPodReturnsAppliedUpperPod(t *testing.T) {
	e := newEnv(t, mappedOwner(t), upperDeps(), nil)
	up := upperPod("web", "uid-1")
	if err := e.p.CreatePod(e.ctx, up); err != nil {
		t.Fatal(err)
	}
	lower, err := e.lower.CoreV1().Pods("app-upper-1").Get(e.ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lower.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.9"}
	if _, err := e.lower.CoreV1().Pods("app-upper-1").UpdateStatus(e.ctx, lower, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, 5*time.Second, "the lower status in the cache", func() bool {
		s, err := e.p.GetPodStatus(e.ctx, "app", "web")
		return err == nil && s.PodIP == "10.0.0.9"
	})
	got, err := e.p.GetPod(e.ctx, "app", "web")
	if err != nil {
		t.Fatal(err)
	}
	want := up.DeepCopy()
	want.Status = lower.Status
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetPod (-want +got):\n%s", diff)
	}
}

// TestDeletePod: the lower pod of ours for this upper pod is deleted with the upper
// pod's grace period and a UID precondition; nothing else is deleted.
func TestDeletePod(t *testing.T) {
	o := mappedOwner(t)
	for _, tc := range []struct {
		name        string
		lower       []runtime.Object
		grace       *int64
		wantErr     func(error) bool // nil: no error
		wantDeletes []string
	}{
		{
			name:        "ours: deleted with the grace period and a UID precondition",
			lower:       objects(ownedPod(o, "web", "uid-1", "lower-1")),
			grace:       ptr.To[int64](30),
			wantDeletes: []string{"app-upper-1/web grace=30 uid=lower-1"},
		},
		{
			name:        "no grace period set upstairs: the lower default",
			lower:       objects(ownedPod(o, "web", "uid-1", "lower-1")),
			wantDeletes: []string{"app-upper-1/web grace=none uid=lower-1"},
		},
		{
			name:    "ours for another upper UID: not deleted, NotFound",
			lower:   objects(ownedPod(o, "web", "uid-0", "lower-0")),
			grace:   ptr.To[int64](30),
			wantErr: errdefs.IsNotFound,
		},
		{
			name:    "foreign pod of the name: not deleted, NotFound",
			lower:   objects(foreignPod("app-upper-1", "web", nil)),
			grace:   ptr.To[int64](30),
			wantErr: errdefs.IsNotFound,
		},
		{
			name:    "ours in the unmapped namespace: not deleted, NotFound",
			lower:   objects(func() *corev1.Pod { p := ownedPod(o, "web", "uid-1", "lower-1"); p.Namespace = "app"; return p }()),
			wantErr: errdefs.IsNotFound,
		},
		{
			name:    "nothing below: NotFound",
			wantErr: errdefs.IsNotFound,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, o, nil, tc.lower)
			up := upperPod("web", "uid-1")
			up.DeletionTimestamp = &metav1.Time{Time: metav1.Now().Time}
			up.DeletionGracePeriodSeconds = tc.grace
			err := e.p.DeletePod(e.ctx, up)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Errorf("DeletePod: %v", err)
			case tc.wantErr != nil && !tc.wantErr(err):
				t.Errorf("DeletePod error = %v, not the kind expected", err)
			}
			if diff := cmp.Diff(tc.wantDeletes, deletes(e.lower, "pods"), cmpEquateEmpty); diff != "" {
				t.Errorf("lower pod deletes (-want +got):\n%s", diff)
			}
			if len(tc.wantDeletes) == 0 && len(lowerPods(t, e)) != len(tc.lower) {
				t.Errorf("lower pods = %v, want %d untouched", lowerPods(t, e), len(tc.lower))
			}
		})
	}
}

// TestUpdatePod: image and label changes reach the lower pod; labels and annotations
// that lower components added stay, and a label removed upstairs goes.
func TestUpdatePod(t *testing.T) {
	o := mappedOwner(t)
	e := newEnv(t, o, upperDeps(), nil)
	v1 := upperPod("web", "uid-1")
	if err := e.p.CreatePod(e.ctx, v1); err != nil {
		t.Fatal(err)
	}
	pods := e.lower.CoreV1().Pods("app-upper-1")
	lower, err := pods.Get(e.ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lower.Labels["lower.example/zone"] = "a"
	lower.Annotations["lower.example/note"] = "x"
	if _, err := pods.Update(e.ctx, lower, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	v2 := v1.DeepCopy()
	v2.ResourceVersion = "8"
	v2.Spec.Containers[0].Image = "nginx:2"
	v2.Labels = map[string]string{"app": "web", "tier": "front"} // version dropped, tier added
	if err := e.p.UpdatePod(e.ctx, v2); err != nil {
		t.Fatalf("UpdatePod: %v", err)
	}
	got, err := pods.Get(e.ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := got.Spec.Containers[0].Image; img != "nginx:2" {
		t.Errorf("lower image = %q, want nginx:2", img)
	}
	wantLabels := map[string]string{"app": "web", "tier": "front", "lower.example/zone": "a",
		translate.LabelVirtualNode: "vk-node", translate.LabelUpperCluster: "upper-1"}
	if diff := cmp.Diff(wantLabels, got.Labels); diff != "" {
		t.Errorf("lower labels (-want +got):\n%s", diff)
	}
	wantNotes := map[string]string{translate.AnnotationUpperUID: "uid-1", translate.AnnotationNamespaceMap: o.Namespaces.String(), "lower.example/note": "x"}
	if diff := cmp.Diff(wantNotes, got.Annotations); diff != "" {
		t.Errorf("lower annotations (-want +got):\n%s", diff)
	}

	// Nothing changed: no write.
	e.lower.ClearActions()
	if err := e.p.UpdatePod(e.ctx, v2); err != nil {
		t.Fatalf("UpdatePod again: %v", err)
	}
	if w := writes(e.lower); slices.ContainsFunc(w, func(s string) bool { return strings.HasPrefix(s, "update pods") }) {
		t.Errorf("lower writes after an update that changes nothing = %q, want no pod update", w)
	}
}

// TestUpdatePodForeign: UpdatePod never writes a foreign lower pod of the name.
func TestUpdatePodForeign(t *testing.T) {
	e := newEnv(t, owner, upperDeps(), objects(foreignPod("app", "web", nil)))
	if err := e.p.UpdatePod(e.ctx, upperPod("web", "uid-1")); err != nil {
		t.Errorf("UpdatePod over a foreign pod: %v, want none: the node refuses it itself", err)
	}
	if ev := e.recorder.recorded(); len(ev) != 2 || ev[1].Reason != provider.ReasonProviderFailed {
		t.Errorf("events %v, want %s and %s", ev, provider.ReasonForeignPod, provider.ReasonProviderFailed)
	}
	if w := writes(e.lower); slices.ContainsFunc(w, func(s string) bool { return strings.Contains(s, " pods ") }) {
		t.Errorf("lower pod writes = %q, want none", w)
	}
}

// TestUpdatePodCreatesMissing: an update for a pod that has no lower pod creates it.
func TestUpdatePodCreatesMissing(t *testing.T) {
	e := newEnv(t, owner, upperDeps(), nil)
	if err := e.p.UpdatePod(e.ctx, upperPod("web", "uid-1")); err != nil {
		t.Fatalf("UpdatePod: %v", err)
	}
	got, err := e.lower.CoreV1().Pods("app").Get(e.ctx, "web", metav1.GetOptions{})
	if apierrors.IsNotFound(err) || (err == nil && translate.UpperUID(got) != "uid-1") {
		t.Errorf("lower pod after UpdatePod: %v, %v; want it created for uid-1", got, err)
	}
}

// TestCreatePodDependencyInTheWay: a dependency that cannot be reflected (a foreign
// ConfigMap of the name below) keeps the pod waiting, with a ForeignObjectExists event
// on the upper pod, and no pod is created; the foreign object is left alone.
func TestCreatePodDependencyInTheWay(t *testing.T) {
	foreignCM := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "app", UID: "foreign-cm"},
		Data: map[string]string{"owner": "the lower cluster"}}
	e := newEnv(t, owner, upperDeps(), objects(foreignCM))
	if err := e.p.CreatePod(e.ctx, upperPod("web", "uid-1")); err != nil {
		t.Fatalf("CreatePod with a foreign ConfigMap in the way: %v, want the pod to wait (no error: virtual-kubelet would fail a restartPolicy Never pod)", err)
	}
	events := e.recorder.recorded()
	want := recordedEvent{Object: "app/web", UID: "uid-1", Type: corev1.EventTypeWarning, Reason: provider.ReasonForeignObject}
	if !slices.Contains(events, want) {
		t.Errorf("events = %+v, want %+v among them", events, want)
	}
	if w := writes(e.lower); slices.Contains(w, "create pods app/web") {
		t.Errorf("lower writes = %q: the pod was created without its ConfigMap", w)
	}
	got, err := e.lower.CoreV1().ConfigMaps("app").Get(e.ctx, "cfg", metav1.GetOptions{})
	if err != nil || got.UID != "foreign-cm" || got.Data["owner"] != "the lower cluster" || len(got.Labels) != 0 {
		t.Errorf("foreign ConfigMap after CreatePod: %+v, %v; want it untouched", got, err)
	}
}

// TestNewValidates: New refuses an incomplete configuration.
func TestNewValidates(t *testing.T) {
	e := newEnv(t, owner, nil, nil)
	valid := provider.Config{
		Owner: owner, Upper: e.upper, Lower: e.lower, UpperPods: e.upperF.Core().V1().Pods().Lister(),
		Reflectors: e.reflectors(t), LowerInformers: e.lowerF, LowerOwnedInformers: e.lowerOwnedF, LowerEvents: e.lowerEventsF,
		Recorder: e.recorder,
	}
	for _, tc := range []struct {
		name  string
		tweak func(*provider.Config)
	}{
		{"no virtual node", func(c *provider.Config) { c.Owner.VirtualNode = "" }},
		{"no upper cluster", func(c *provider.Config) { c.Owner.UpperCluster = "" }},
		{"no upper client", func(c *provider.Config) { c.Upper = nil }},
		{"no lower client", func(c *provider.Config) { c.Lower = nil }},
		{"no upper pod lister", func(c *provider.Config) { c.UpperPods = nil }},
		{"no reflectors", func(c *provider.Config) { c.Reflectors = nil }},
		{"no lower informers", func(c *provider.Config) { c.LowerInformers = nil }},
		{"no owned lower informers", func(c *provider.Config) { c.LowerOwnedInformers = nil }},
		{"no lower events", func(c *provider.Config) { c.LowerEvents = nil }},
		{"no recorder", func(c *provider.Config) { c.Recorder = nil }},
		{"retry cap below the base delay", func(c *provider.Config) { c.RetryBaseDelay, c.RetryMaxDelay = time.Second, time.Millisecond }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid
			tc.tweak(&cfg)
			if _, err := provider.New(cfg); err == nil {
				t.Error("New succeeded, want an error")
			}
		})
	}
}

// TestLowerName: the kubelet API finds the lower pod of an upper pod only when it is
// this node's; a lower pod of the same name that is not (foreign, another node's) must
// never answer for the upper pod's logs or exec.
func TestLowerName(t *testing.T) {
	o := mappedOwner(t)
	e := newEnv(t, o, nil, []runtime.Object{
		ownedPod(o, "web", "uid-1", "lower-1"),
		foreignPod("app-upper-1", "clash", nil),
		foreignPod("app-upper-1", "other", map[string]string{translate.LabelVirtualNode: "vk-other", translate.LabelUpperCluster: "upper-1"}),
	})
	got, err := e.p.LowerName(types.NamespacedName{Namespace: "app", Name: "web"})
	if err != nil || got != (types.NamespacedName{Namespace: "app-upper-1", Name: "web"}) {
		t.Errorf("LowerName(app/web) = %v, %v; want app-upper-1/web", got, err)
	}
	for _, name := range []string{"clash", "other", "missing"} {
		if got, err := e.p.LowerName(types.NamespacedName{Namespace: "app", Name: name}); !errdefs.IsNotFound(err) {
			t.Errorf("LowerName(app/%s) = %v, %v; want NotFound", name, got, err)
		}
	}
}
