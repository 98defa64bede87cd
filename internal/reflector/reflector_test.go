package reflector_test

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"github.com/tensile-kube/tensile/internal/eventually"
	"github.com/tensile-kube/tensile/internal/fakeclient"
	"github.com/tensile-kube/tensile/internal/reflector"
	"github.com/tensile-kube/tensile/internal/translate"
)

var owner = translate.Owner{VirtualNode: "vk-node", UpperCluster: "upper-1"}

var pod = types.NamespacedName{Namespace: "app", Name: "web"}

// underTest is what the tests use of a *reflector.Reflector[T], whatever T.
type underTest interface {
	Track(pod types.NamespacedName, names sets.Set[string])
	Release(pod types.NamespacedName)
	Ensure(ctx context.Context, namespace, name string) error
	Run(ctx context.Context)
	Len() int
}

var (
	_ underTest = (*reflector.Reflector[*corev1.ConfigMap])(nil)
	_ underTest = (*reflector.Reflector[*corev1.Secret])(nil)
	_ underTest = (*reflector.Reflector[*corev1.PersistentVolumeClaim])(nil)
)

// env is one upper and one lower fake cluster with informers wired as the virtual node
// wires them: the lower factory sees only objects carrying the owner's labels.
type env struct {
	upper, lower   *fake.Clientset
	upperF, lowerF informers.SharedInformerFactory
	recorder       *record.FakeRecorder
	ctx            context.Context
	owner          translate.Owner // the reflectors' owner; the package's owner unless a test maps namespaces
}

func newEnv(t *testing.T, upperObjs, lowerObjs []runtime.Object) *env {
	t.Helper()
	e := &env{
		upper:    fake.NewClientset(upperObjs...),
		lower:    fakeclient.NewClientset("lower", lowerObjs...),
		recorder: record.NewFakeRecorder(10),
		owner:    owner,
	}
	e.upperF = informers.NewSharedInformerFactory(e.upper, 0)
	e.lowerF = informers.NewSharedInformerFactoryWithOptions(e.lower, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = owner.Selector().String() }))
	ctx, cancel := context.WithCancel(context.Background())
	e.ctx = ctx
	t.Cleanup(func() {
		cancel()
		e.upperF.Shutdown()
		e.lowerF.Shutdown()
	})
	return e
}

func (e *env) clusters() reflector.Clusters {
	return reflector.Clusters{Upper: e.upperF, LowerOwned: e.lowerF, Lower: e.lower}
}

// start builds the reflector of kind (which registers its handlers), syncs the
// informers and, with run, processes its queue until the test ends.
func (e *env) start(t *testing.T, kind string, run bool) underTest {
	t.Helper()
	var (
		r   underTest
		err error
	)
	cfg := reflector.Config{Owner: e.owner, Recorder: e.recorder, Workers: 2}
	switch kind {
	case "configmap":
		r, err = reflector.New(reflector.ConfigMaps(e.clusters()), cfg)
	case "secret":
		r, err = reflector.New(reflector.Secrets(e.clusters()), cfg)
	case "pvc":
		r, err = reflector.New(reflector.PVCs(e.clusters()), cfg)
	case "serviceaccount":
		r, err = reflector.New(reflector.ServiceAccounts(e.clusters()), cfg)
	default:
		t.Fatalf("unknown kind %q", kind)
	}
	if err != nil {
		t.Fatalf("reflector.New: %v", err)
	}
	e.upperF.Start(e.ctx.Done())
	e.lowerF.Start(e.ctx.Done())
	for typ, ok := range e.upperF.WaitForCacheSync(e.ctx.Done()) {
		if !ok {
			t.Fatalf("upper %v informer did not sync", typ)
		}
	}
	for typ, ok := range e.lowerF.WaitForCacheSync(e.ctx.Done()) {
		if !ok {
			t.Fatalf("lower %v informer did not sync", typ)
		}
	}
	if run {
		done := make(chan struct{})
		ctx, cancel := context.WithCancel(e.ctx)
		go func() {
			defer close(done)
			r.Run(ctx)
		}()
		t.Cleanup(func() {
			cancel()
			<-done
		})
	}
	return r
}

// lowerState lists every reflected object of the lower cluster without what the API
// server sets (UID, resourceVersion, managed fields), sorted by kind and key.
func (e *env) lowerState(t *testing.T) []runtime.Object {
	t.Helper()
	var out []runtime.Object
	add := func(list runtime.Object, err error) {
		if err != nil {
			t.Fatal(err)
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			t.Fatal(err)
		}
		sort.Slice(items, func(i, j int) bool {
			a, _ := meta.Accessor(items[i])
			b, _ := meta.Accessor(items[j])
			return a.GetNamespace()+"/"+a.GetName() < b.GetNamespace()+"/"+b.GetName()
		})
		out = append(out, normalize(items)...)
	}
	ctx := context.Background()
	add(e.lower.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{}))
	add(e.lower.CoreV1().Secrets("").List(ctx, metav1.ListOptions{}))
	add(e.lower.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{}))
	add(e.lower.CoreV1().ServiceAccounts("").List(ctx, metav1.ListOptions{}))
	return out
}

// normalize returns copies of objs without what the API server sets.
func normalize(objs []runtime.Object) []runtime.Object {
	var out []runtime.Object
	for _, o := range objs {
		o = o.DeepCopyObject()
		m, _ := meta.Accessor(o)
		m.SetUID("")
		m.SetResourceVersion("")
		m.SetManagedFields(nil)
		o.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
		out = append(out, o)
	}
	return out
}

// lowerWrites lists the lower cluster's mutating calls as "verb resource".
func (e *env) lowerWrites() []string {
	var out []string
	for _, a := range e.lower.Actions() {
		switch a.GetVerb() {
		case "create", "update", "patch", "delete":
			out = append(out, a.GetVerb()+" "+a.GetResource().Resource)
		}
	}
	return out
}

// lowerDeletes returns the delete calls made below.
func (e *env) lowerDeletes() []clienttesting.DeleteActionImpl {
	var out []clienttesting.DeleteActionImpl
	for _, a := range e.lower.Actions() {
		if d, ok := a.(clienttesting.DeleteActionImpl); ok {
			out = append(out, d)
		}
	}
	return out
}

func (e *env) events() []string {
	var out []string
	for {
		select {
		case ev := <-e.recorder.Events:
			out = append(out, ev)
		default:
			return out
		}
	}
}

func marks(uid string, extra map[string]string) (map[string]string, map[string]string) {
	l := map[string]string{translate.LabelVirtualNode: owner.VirtualNode, translate.LabelUpperCluster: owner.UpperCluster}
	for k, v := range extra {
		l[k] = v
	}
	return l, map[string]string{translate.AnnotationUpperUID: uid, translate.AnnotationNamespaceMap: "{namespace}"}
}

func upperCM(name, value string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "app", UID: types.UID("up-" + name), ResourceVersion: "10",
			Labels:          map[string]string{"app": "web"},
			Annotations:     map[string]string{corev1.LastAppliedConfigAnnotation: "{}"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: "x", UID: "x"}},
		},
		Data: map[string]string{"username": value},
	}
}

// ourCM is the lower copy of upperCM(name, value).
func ourCM(name, value string) *corev1.ConfigMap {
	l, a := marks("up-"+name, map[string]string{"app": "web"})
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "app", Labels: l, Annotations: a},
		Data: map[string]string{"username": value}}
}

func foreignCM(name string, lbls map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "app", UID: "foreign-uid", Labels: lbls},
		Data: map[string]string{"owner": "someone else"}}
}

func upperSecret(name string, typ corev1.SecretType) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "app", UID: types.UID("up-" + name)},
		Type: typ, Data: map[string][]byte{"USER_NAME": []byte("admin")}}
}

func upperPVC(name string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "app", UID: types.UID("up-" + name),
			Annotations: map[string]string{"pv.kubernetes.io/bind-completed": "yes"}},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			VolumeName:  "pv-upper",
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("50Mi")}},
		},
	}
}

// ourPVC is the lower copy of upperPVC(name) with extra annotations (the lower
// cluster's binding ones, say).
func ourPVC(name string, extra map[string]string) *corev1.PersistentVolumeClaim {
	l, a := marks("up-"+name, nil)
	for k, v := range extra {
		a[k] = v
	}
	want := upperPVC(name)
	want.ObjectMeta = metav1.ObjectMeta{Name: name, Namespace: "app", Labels: l, Annotations: a}
	want.Spec.VolumeName = ""
	return want
}

func upperSA(name string) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "app", UID: types.UID("up-" + name)},
		Secrets:                      []corev1.ObjectReference{{Name: name + "-token"}},
		ImagePullSecrets:             []corev1.LocalObjectReference{{Name: "registry"}},
		AutomountServiceAccountToken: ptr.To(false)}
}

func foreignSA(name string) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "app", UID: "foreign-uid"},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "lower-registry"}}}
}

// allowedSA is the lower cluster's own ServiceAccount, which its admin lets the listed
// upper clusters use.
func allowedSA(name, clusters string) *corev1.ServiceAccount {
	sa := foreignSA(name)
	sa.Annotations = map[string]string{translate.AnnotationAllowUpperClusters: clusters}
	return sa
}

func TestEnsure(t *testing.T) {
	for _, tc := range []struct {
		name       string
		kind       string
		upper      []runtime.Object
		lower      []runtime.Object
		untracked  bool // no pod uses the object
		wantErr    error
		wantLower  []runtime.Object
		wantWrites []string
		wantEvents []string // prefixes
	}{
		{
			name:       "creates a marked copy without upper metadata",
			kind:       "configmap",
			upper:      []runtime.Object{upperCM("cfg", "v1")},
			wantLower:  []runtime.Object{ourCM("cfg", "v1")},
			wantWrites: []string{"create configmaps"},
		},
		{
			name:       "updates a stale copy of ours",
			kind:       "configmap",
			upper:      []runtime.Object{upperCM("cfg", "v2")},
			lower:      []runtime.Object{ourCM("cfg", "v1")},
			wantLower:  []runtime.Object{ourCM("cfg", "v2")},
			wantWrites: []string{"update configmaps"},
		},
		{
			name:       "current copy is left alone",
			kind:       "configmap",
			upper:      []runtime.Object{upperCM("cfg", "v1")},
			lower:      []runtime.Object{ourCM("cfg", "v1")},
			wantLower:  []runtime.Object{ourCM("cfg", "v1")},
			wantWrites: nil,
		},
		{
			name:       "foreign object of the same name: ErrForeign, unchanged, event",
			kind:       "configmap",
			upper:      []runtime.Object{upperCM("cfg", "v1")},
			lower:      []runtime.Object{foreignCM("cfg", nil)},
			wantErr:    reflector.ErrForeign,
			wantLower:  []runtime.Object{foreignCM("cfg", nil)},
			wantWrites: []string{"create configmaps"},
			wantEvents: []string{"Warning ForeignObjectExists"},
		},
		{
			name:  "another virtual node's copy is foreign too",
			kind:  "configmap",
			upper: []runtime.Object{upperCM("cfg", "v1")},
			lower: []runtime.Object{foreignCM("cfg", map[string]string{
				translate.LabelVirtualNode: "vk-other", translate.LabelUpperCluster: owner.UpperCluster,
			})},
			wantErr: reflector.ErrForeign,
			wantLower: []runtime.Object{foreignCM("cfg", map[string]string{
				translate.LabelVirtualNode: "vk-other", translate.LabelUpperCluster: owner.UpperCluster,
			})},
			wantWrites: []string{"create configmaps"},
			wantEvents: []string{"Warning ForeignObjectExists"},
		},
		{
			name:      "unused object is not copied",
			kind:      "configmap",
			upper:     []runtime.Object{upperCM("cfg", "v1")},
			untracked: true,
		},
		{
			name: "missing upper object: nothing to do",
			kind: "configmap",
		},
		{
			name:  "secret copied",
			kind:  "secret",
			upper: []runtime.Object{upperSecret("cfg", corev1.SecretTypeOpaque)},
			wantLower: []runtime.Object{func() runtime.Object {
				l, a := marks("up-cfg", nil)
				return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "app", Labels: l, Annotations: a},
					Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"USER_NAME": []byte("admin")}}
			}()},
			wantWrites: []string{"create secrets"},
		},
		{
			name:  "service-account token secret is never copied",
			kind:  "secret",
			upper: []runtime.Object{upperSecret("cfg", corev1.SecretTypeServiceAccountToken)},
		},
		{
			name:  "claim copied without its upper binding",
			kind:  "pvc",
			upper: []runtime.Object{upperPVC("cfg")},
			wantLower: []runtime.Object{func() runtime.Object {
				l, a := marks("up-cfg", nil)
				want := upperPVC("cfg")
				want.ObjectMeta = metav1.ObjectMeta{Name: "cfg", Namespace: "app", Labels: l, Annotations: a}
				want.Spec.VolumeName = ""
				return want
			}()},
			wantWrites: []string{"create persistentvolumeclaims"},
		},
		{
			name: "an upper claim's new annotation reaches the copy; the lower controller's stay",
			kind: "pvc",
			upper: []runtime.Object{func() runtime.Object {
				up := upperPVC("cfg")
				up.Annotations["team"] = "storage"
				return up
			}()},
			lower:      []runtime.Object{ourPVC("cfg", map[string]string{"pv.kubernetes.io/bind-completed": "yes"})},
			wantLower:  []runtime.Object{ourPVC("cfg", map[string]string{"pv.kubernetes.io/bind-completed": "yes", "team": "storage"})},
			wantWrites: []string{"update persistentvolumeclaims"},
		},
		{
			name: "a claim copy of an earlier upper claim of the same name is deleted, never reused",
			kind: "pvc",
			upper: []runtime.Object{func() runtime.Object {
				up := upperPVC("cfg")
				up.UID = "up-cfg-again"
				return up
			}()},
			lower:      []runtime.Object{ourPVC("cfg", map[string]string{"pv.kubernetes.io/bind-completed": "yes"})},
			wantErr:    reflector.ErrReplacing,
			wantWrites: []string{"delete persistentvolumeclaims"},
		},
		{
			name:  "a copy made under another namespace map is not ours: left untouched, the pod waits",
			kind:  "pvc",
			upper: []runtime.Object{upperPVC("cfg")},
			lower: []runtime.Object{func() runtime.Object {
				old := ourPVC("cfg", nil)
				old.Annotations[translate.AnnotationNamespaceMap] = "{namespace}-before"
				return old
			}()},
			wantLower: []runtime.Object{func() runtime.Object {
				old := ourPVC("cfg", nil)
				old.Annotations[translate.AnnotationNamespaceMap] = "{namespace}-before"
				return old
			}()},
			wantErr:    reflector.ErrForeign,
			wantWrites: []string{"create persistentvolumeclaims"},
			wantEvents: []string{"Warning ForeignObjectExists"},
		},
		{
			name:  "service account created below when missing, with its automount setting and no secrets",
			kind:  "serviceaccount",
			upper: []runtime.Object{upperSA("cfg")},
			wantLower: []runtime.Object{func() runtime.Object {
				l, a := marks("up-cfg", nil)
				return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "app", Labels: l, Annotations: a},
					AutomountServiceAccountToken: ptr.To(false)}
			}()},
			wantWrites: []string{"create serviceaccounts"},
		},
		{
			name:  "another virtual node's service account is in the way, not used",
			kind:  "serviceaccount",
			upper: []runtime.Object{upperSA("cfg")},
			lower: []runtime.Object{func() runtime.Object {
				sa := foreignSA("cfg")
				sa.Labels = map[string]string{translate.LabelVirtualNode: "vk-other", translate.LabelUpperCluster: owner.UpperCluster}
				return sa
			}()},
			wantErr: reflector.ErrForeign,
			wantLower: []runtime.Object{func() runtime.Object {
				sa := foreignSA("cfg")
				sa.Labels = map[string]string{translate.LabelVirtualNode: "vk-other", translate.LabelUpperCluster: owner.UpperCluster}
				return sa
			}()},
			wantWrites: []string{"create serviceaccounts"},
			wantEvents: []string{"Warning ForeignObjectExists"},
		},
		{
			name:       "the lower cluster's own service account is not used unless its admin allows it",
			kind:       "serviceaccount",
			upper:      []runtime.Object{upperSA("cfg")},
			lower:      []runtime.Object{foreignSA("cfg")},
			wantErr:    reflector.ErrForeign,
			wantLower:  []runtime.Object{foreignSA("cfg")},
			wantWrites: []string{"create serviceaccounts"},
			wantEvents: []string{"Warning ForeignObjectExists Not reflecting serviceaccount app/cfg: the lower cluster has an object of that name that this virtual node did not create: it is a lower identity, used only when a lower admin annotates it tensile.dev/allow-upper-clusters=" + owner.UpperCluster},
		},
		{
			name:       "the lower cluster's own service account allowed for this upper cluster is used as it is, quietly",
			kind:       "serviceaccount",
			upper:      []runtime.Object{upperSA("cfg")},
			lower:      []runtime.Object{allowedSA("cfg", "other, "+owner.UpperCluster)},
			wantLower:  []runtime.Object{allowedSA("cfg", "other, "+owner.UpperCluster)},
			wantWrites: []string{"create serviceaccounts"},
		},
		{
			name:       "the lower cluster's own service account allowed for every upper cluster is used",
			kind:       "serviceaccount",
			upper:      []runtime.Object{upperSA("cfg")},
			lower:      []runtime.Object{allowedSA("cfg", "*")},
			wantLower:  []runtime.Object{allowedSA("cfg", "*")},
			wantWrites: []string{"create serviceaccounts"},
		},
		{
			name:       "allowed for another upper cluster only: not used",
			kind:       "serviceaccount",
			upper:      []runtime.Object{upperSA("cfg")},
			lower:      []runtime.Object{allowedSA("cfg", "other")},
			wantErr:    reflector.ErrForeign,
			wantLower:  []runtime.Object{allowedSA("cfg", "other")},
			wantWrites: []string{"create serviceaccounts"},
			wantEvents: []string{"Warning ForeignObjectExists"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.upper, tc.lower)
			r := e.start(t, tc.kind, false)
			if !tc.untracked {
				r.Track(pod, sets.New("cfg"))
			}
			e.lower.ClearActions()
			err := r.Ensure(e.ctx, "app", "cfg")
			switch {
			case tc.wantErr == nil && err != nil:
				t.Errorf("Ensure: %v", err)
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Errorf("Ensure error = %v, want one wrapping %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(normalize(tc.wantLower), e.lowerState(t)); diff != "" {
				t.Errorf("lower objects (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantWrites, e.lowerWrites()); diff != "" {
				t.Errorf("lower writes (-want +got):\n%s", diff)
			}
			events := e.events()
			if len(events) != len(tc.wantEvents) {
				t.Fatalf("events = %q, want %d starting with %q", events, len(tc.wantEvents), tc.wantEvents)
			}
			for i := range events {
				if !strings.HasPrefix(events[i], tc.wantEvents[i]) {
					t.Errorf("event %d = %q, want prefix %q", i, events[i], tc.wantEvents[i])
				}
			}
		})
	}
}

func getCM(e *env, name string) (*corev1.ConfigMap, error) {
	return e.lower.CoreV1().ConfigMaps("app").Get(context.Background(), name, metav1.GetOptions{})
}

// checkUIDDelete checks that the lower object named name was deleted, each time with a
// UID precondition naming the copy that was there. (A key processed again before the
// cache saw the delete may delete twice; the second gets NotFound.)
func checkUIDDelete(t *testing.T, e *env, name string, uid types.UID) {
	t.Helper()
	n := 0
	for _, d := range e.lowerDeletes() {
		if d.Name != name {
			continue
		}
		n++
		p := d.DeleteOptions.Preconditions
		if p == nil || p.UID == nil || *p.UID != uid {
			t.Errorf("delete of %s: preconditions = %+v, want UID %q", name, p, uid)
		}
	}
	if n == 0 {
		t.Errorf("no delete of %s below", name)
	}
}

func TestConfigMapLifecycle(t *testing.T) {
	e := newEnv(t, []runtime.Object{upperCM("cfg", "v1")}, nil)
	r := e.start(t, "configmap", true)
	r.Track(pod, sets.New("cfg"))
	if err := r.Ensure(e.ctx, "app", "cfg"); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	created, err := getCM(e, "cfg")
	if err != nil {
		t.Fatalf("lower copy after Ensure: %v", err)
	}
	if !owner.Owns(created) || translate.UpperUID(created) != "up-cfg" {
		t.Errorf("lower copy not marked: labels %v annotations %v", created.Labels, created.Annotations)
	}

	// An upper update reaches the copy through the queue.
	up := upperCM("cfg", "v2")
	if _, err := e.upper.CoreV1().ConfigMaps("app").Update(context.Background(), up, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually.Check(t, 5*time.Second, "the upper update to reach the lower copy", func() (bool, error) {
		cm, err := getCM(e, "cfg")
		return err == nil && cm.Data["username"] == "v2", nil
	})

	// A second pod shares it; releasing one user keeps it.
	other := types.NamespacedName{Namespace: "app", Name: "other"}
	r.Track(other, sets.New("cfg"))
	r.Release(pod)
	if err := r.Ensure(e.ctx, "app", "cfg"); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	if _, err := getCM(e, "cfg"); err != nil {
		t.Fatalf("copy gone while another pod uses it: %v", err)
	}

	// Releasing the last user deletes it, with a UID precondition.
	r.Release(other)
	eventually.Check(t, 5*time.Second, "the unused copy to be deleted", func() (bool, error) {
		_, err := getCM(e, "cfg")
		return apierrors.IsNotFound(err), nil
	})
	checkUIDDelete(t, e, "cfg", created.UID)
}

func TestUpperDeleteRemovesCopy(t *testing.T) {
	e := newEnv(t, []runtime.Object{upperCM("cfg", "v1"), upperCM("keep", "v1")}, nil)
	r := e.start(t, "configmap", true)
	r.Track(pod, sets.New("cfg", "keep"))
	for _, n := range []string{"cfg", "keep"} {
		if err := r.Ensure(e.ctx, "app", n); err != nil {
			t.Fatalf("Ensure %s: %v", n, err)
		}
	}
	created, err := getCM(e, "cfg")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.upper.CoreV1().ConfigMaps("app").Delete(context.Background(), "cfg", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually.Check(t, 5*time.Second, "the copy of the deleted upper object to be deleted", func() (bool, error) {
		_, err := getCM(e, "cfg")
		return apierrors.IsNotFound(err), nil
	})
	checkUIDDelete(t, e, "cfg", created.UID)
	if _, err := getCM(e, "keep"); err != nil {
		t.Errorf("unrelated copy: %v", err)
	}
}

func TestPVCKeptWhileUpperClaimExists(t *testing.T) {
	e := newEnv(t, []runtime.Object{upperPVC("data")}, nil)
	r := e.start(t, "pvc", true)
	pvcs := e.lower.CoreV1().PersistentVolumeClaims("app")
	r.Track(pod, sets.New("data"))
	if err := r.Ensure(e.ctx, "app", "data"); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	created, err := pvcs.Get(context.Background(), "data", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lister := e.lowerF.Core().V1().PersistentVolumeClaims().Lister()
	eventually.Check(t, 5*time.Second, "the copy in the owned cache", func() (bool, error) {
		_, err := lister.PersistentVolumeClaims("app").Get("data")
		return err == nil, nil
	})

	// No pod uses it any more: the claim's data must stay.
	r.Release(pod)
	if err := r.Ensure(e.ctx, "app", "data"); err != nil {
		t.Fatalf("Ensure after Release: %v", err)
	}
	eventually.Check(t, 5*time.Second, "the queue to drain", func() (bool, error) { return r.Len() == 0, nil })
	time.Sleep(100 * time.Millisecond) // let a worker finish the last key
	if _, err := pvcs.Get(context.Background(), "data", metav1.GetOptions{}); err != nil {
		t.Fatalf("unused claim copy removed while the upper claim exists: %v", err)
	}
	if d := e.lowerDeletes(); len(d) != 0 {
		t.Fatalf("deletes below = %v, want none", d)
	}

	// The upper claim goes: so does the copy.
	if err := e.upper.CoreV1().PersistentVolumeClaims("app").Delete(context.Background(), "data", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually.Check(t, 5*time.Second, "the claim copy to be deleted", func() (bool, error) {
		_, err := pvcs.Get(context.Background(), "data", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	checkUIDDelete(t, e, "data", created.UID)
}

func TestNewValidates(t *testing.T) {
	e := newEnv(t, nil, nil)
	valid := reflector.ConfigMaps(e.clusters())
	for _, tc := range []struct {
		name string
		kind reflector.PodKind[*corev1.ConfigMap]
		cfg  reflector.Config
	}{
		{name: "no owner", kind: valid},
		{name: "owner without upper cluster", kind: valid, cfg: reflector.Config{Owner: translate.Owner{VirtualNode: "vk"}}},
		{name: "kind without Delete", kind: func() reflector.PodKind[*corev1.ConfigMap] { k := valid; k.Delete = nil; return k }(),
			cfg: reflector.Config{Owner: owner}},
		{name: "kind without name", kind: func() reflector.PodKind[*corev1.ConfigMap] { k := valid; k.Name = ""; return k }(),
			cfg: reflector.Config{Owner: owner}},
		{name: "kind without upper informer", kind: func() reflector.PodKind[*corev1.ConfigMap] { k := valid; k.UpperInformer = nil; return k }(),
			cfg: reflector.Config{Owner: owner}},
		{name: "kind without lower informer", kind: func() reflector.PodKind[*corev1.ConfigMap] { k := valid; k.LowerInformer = nil; return k }(),
			cfg: reflector.Config{Owner: owner}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := reflector.New(tc.kind, tc.cfg); err == nil {
				t.Error("New succeeded, want an error")
			}
		})
	}
	if _, err := reflector.New(valid, reflector.Config{Owner: owner}); err != nil {
		t.Errorf("New with a valid kind and owner: %v", err)
	}
}

// TestNamespaceMapping: with a namespace map, copies live in the mapped lower namespace,
// lower events find their upper object again (an out-of-band delete is repaired), a
// same-named object in the unmapped namespace is neither touched nor mistaken for a
// copy, and deleting the upper object removes the mapped copy.
func TestNamespaceMapping(t *testing.T) {
	mapped := owner
	var err error
	if mapped.Namespaces, err = translate.ParseNamespaceMap("{namespace}-{cluster}", owner); err != nil {
		t.Fatal(err)
	}
	plain := ourCM("cfg", "other") // same name, the unmapped namespace: not this owner's copy
	e := newEnv(t, []runtime.Object{upperCM("cfg", "v1")}, []runtime.Object{plain})
	e.owner = mapped
	r := e.start(t, "configmap", true)
	r.Track(pod, sets.New("cfg"))
	if err := r.Ensure(e.ctx, "app", "cfg"); err != nil {
		t.Fatal(err)
	}
	want := ourCM("cfg", "v1")
	want.Namespace = "app-upper-1"
	want.Annotations[translate.AnnotationNamespaceMap] = mapped.Namespaces.String()
	got, err := e.lower.CoreV1().ConfigMaps("app-upper-1").Get(e.ctx, "cfg", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(normalize([]runtime.Object{want}), normalize([]runtime.Object{got})); diff != "" {
		t.Errorf("mapped copy (-want +got):\n%s", diff)
	}
	if err := e.lower.CoreV1().ConfigMaps("app-upper-1").Delete(e.ctx, "cfg", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually.Check(t, 5*time.Second, "the copy re-created in app-upper-1", func() (bool, error) {
		_, err := e.lower.CoreV1().ConfigMaps("app-upper-1").Get(e.ctx, "cfg", metav1.GetOptions{})
		return err == nil, nil
	})
	if err := e.upper.CoreV1().ConfigMaps("app").Delete(e.ctx, "cfg", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually.Check(t, 5*time.Second, "the mapped copy removed", func() (bool, error) {
		_, err := e.lower.CoreV1().ConfigMaps("app-upper-1").Get(e.ctx, "cfg", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	left, err := e.lower.CoreV1().ConfigMaps("app").Get(e.ctx, "cfg", metav1.GetOptions{})
	if err != nil || left.Data["username"] != "other" {
		t.Errorf("the object in the unmapped namespace: %v, %v; want it untouched", left, err)
	}
}
