package provider_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"

	"github.com/tensile-kube/tensile/internal/fakeclient"
	"github.com/tensile-kube/tensile/internal/provider"
	"github.com/tensile-kube/tensile/internal/reflector"
	"github.com/tensile-kube/tensile/internal/translate"
)

// owner is the virtual node under test; namespaces keep their names below.
var owner = translate.Owner{VirtualNode: "vk-node", UpperCluster: "upper-1"}

// mappedOwner is owner with the namespace map "{namespace}-{cluster}": upper namespace
// "app" lives in "app-upper-1" below.
func mappedOwner(t *testing.T) translate.Owner {
	t.Helper()
	o := owner
	var err error
	if o.Namespaces, err = translate.ParseNamespaceMap("{namespace}-{cluster}", owner); err != nil {
		t.Fatal(err)
	}
	return o
}

// env is one upper and one lower fake cluster with informer factories wired as
// internal/virtualnode wires them, and a provider built on them.
type env struct {
	ctx          context.Context
	owner        translate.Owner
	upper, lower *fake.Clientset
	recorder     *recorder
	p            *provider.Provider

	upperF, lowerF, lowerOwnedF, lowerEventsF informers.SharedInformerFactory
	runDone                                   chan struct{} // closed when Run returns; nil unless run was called
}

// newEnv builds the clusters and the provider (with tweak applied to its config), then
// starts and syncs every informer the provider asked for, as runNode does.
func newEnv(t *testing.T, o translate.Owner, upperObjs, lowerObjs []runtime.Object, tweak ...func(*provider.Config)) *env {
	t.Helper()
	e := &env{
		owner:    o,
		upper:    fakeclient.NewClientset("upper", upperObjs...),
		lower:    fakeclient.NewClientset("lower", lowerObjs...),
		recorder: newRecorder(),
	}
	e.upperF = informers.NewSharedInformerFactory(e.upper, 0)
	e.lowerF = informers.NewSharedInformerFactory(e.lower, 0)
	e.lowerEventsF = informers.NewSharedInformerFactory(e.lower, 0)
	e.lowerOwnedF = informers.NewSharedInformerFactoryWithOptions(e.lower, 0,
		informers.WithTweakListOptions(func(lo *metav1.ListOptions) { lo.LabelSelector = o.Selector().String() }))
	cfg := provider.Config{
		Owner: o, Upper: e.upper, Lower: e.lower,
		UpperPods:      e.upperF.Core().V1().Pods().Lister(),
		Reflectors:     e.reflectors(t),
		LowerInformers: e.lowerF, LowerOwnedInformers: e.lowerOwnedF, LowerEvents: e.lowerEventsF,
		Recorder: e.recorder,
		Workers:  2,
	}
	for _, f := range tweak {
		f(&cfg)
	}
	var err error
	if e.p, err = provider.New(cfg); err != nil {
		t.Fatalf("provider.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.ctx = ctx
	t.Cleanup(func() {
		cancel()
		if e.runDone != nil {
			<-e.runDone
		}
		for _, f := range e.factories() {
			f.Shutdown()
		}
	})
	for _, f := range e.factories() {
		f.Start(ctx.Done())
	}
	for _, f := range e.factories() {
		for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
			if !ok {
				t.Fatalf("%v informer did not sync", typ)
			}
		}
	}
	return e
}

// reflectors builds the reflectors on the env's informers, as internal/virtualnode does.
func (e *env) reflectors(t *testing.T) *reflector.Set {
	t.Helper()
	s, err := reflector.NewSet(reflector.SetConfig{Owner: e.owner, Recorder: e.recorder,
		Upper: e.upperF, LowerOwned: e.lowerOwnedF, LowerAll: e.lowerF, Lower: e.lower})
	if err != nil {
		t.Fatalf("reflector.NewSet: %v", err)
	}
	return s
}

func (e *env) factories() []informers.SharedInformerFactory {
	return []informers.SharedInformerFactory{e.upperF, e.lowerF, e.lowerOwnedF, e.lowerEventsF}
}

// run starts the status workers and runs the provider until the test ends. It returns
// the upper pods as each status write (a patch of pods/status) left them.
func (e *env) run(t *testing.T) *notifications {
	t.Helper()
	n := &notifications{}
	e.upper.PrependReactor("patch", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "status" {
			return false, nil, nil
		}
		handled, obj, err := clienttesting.ObjectReaction(e.upper.Tracker())(a)
		if p, ok := obj.(*corev1.Pod); ok && err == nil {
			n.add(p)
		}
		return handled, obj, err
	})
	e.p.NotifyPods(e.ctx, func(*corev1.Pod) { t.Error("the provider used virtual-kubelet's status callback") })
	e.runDone = make(chan struct{})
	go func() {
		defer close(e.runDone)
		e.p.Run(e.ctx)
	}()
	return n
}

// notifications records the upper pods as status writes left them.
type notifications struct {
	mu   sync.Mutex
	pods []*corev1.Pod
}

func (n *notifications) add(p *corev1.Pod) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.pods = append(n.pods, p.DeepCopy())
}

// find returns the last written pod that satisfies match.
func (n *notifications) find(match func(*corev1.Pod) bool) *corev1.Pod {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := len(n.pods) - 1; i >= 0; i-- {
		if match(n.pods[i]) {
			return n.pods[i]
		}
	}
	return nil
}

// recordedEvent is an event and the object it was recorded on.
type recordedEvent struct {
	Object string // namespace/name
	UID    types.UID
	Type   string
	Reason string
}

// recorder is a record.FakeRecorder (its Events channel has the messages) that also
// remembers which object each event is about, which the FakeRecorder's strings do not say.
type recorder struct {
	*record.FakeRecorder
	mu     sync.Mutex
	events []recordedEvent
}

func newRecorder() *recorder { return &recorder{FakeRecorder: record.NewFakeRecorder(1000)} }

func (r *recorder) add(obj runtime.Object, typ, reason string) {
	ev := recordedEvent{Type: typ, Reason: reason}
	if m, err := meta.Accessor(obj); err == nil {
		ev.Object, ev.UID = m.GetNamespace()+"/"+m.GetName(), m.GetUID()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func (r *recorder) Event(obj runtime.Object, typ, reason, msg string) {
	r.add(obj, typ, reason)
	r.FakeRecorder.Event(obj, typ, reason, msg)
}

func (r *recorder) Eventf(obj runtime.Object, typ, reason, format string, args ...any) {
	r.add(obj, typ, reason)
	r.FakeRecorder.Eventf(obj, typ, reason, format, args...)
}

func (r *recorder) AnnotatedEventf(obj runtime.Object, ann map[string]string, typ, reason, format string, args ...any) {
	r.add(obj, typ, reason)
	r.FakeRecorder.AnnotatedEventf(obj, ann, typ, reason, format, args...)
}

// recorded returns the events so far.
func (r *recorder) recorded() []recordedEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recordedEvent(nil), r.events...)
}

// writes lists the mutating calls made to a fake cluster as "verb resource ns/name".
func writes(c *fake.Clientset) []string {
	var out []string
	for _, a := range c.Actions() {
		var name string
		switch a := a.(type) {
		case clienttesting.CreateAction:
			if m, err := meta.Accessor(a.GetObject()); err == nil {
				name = m.GetName()
			}
		case clienttesting.UpdateAction:
			if m, err := meta.Accessor(a.GetObject()); err == nil {
				name = m.GetName()
			}
		case clienttesting.DeleteAction:
			name = a.GetName()
		case clienttesting.PatchAction:
			name = a.GetName()
		default:
			continue
		}
		res := a.GetResource().Resource
		if a.GetSubresource() != "" {
			res += "/" + a.GetSubresource()
		}
		out = append(out, fmt.Sprintf("%s %s %s", a.GetVerb(), res, objKey(a.GetNamespace(), name)))
	}
	return out
}

func objKey(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

// deletes describes the delete calls made to a fake cluster on a resource, with their
// grace period and UID precondition.
func deletes(c *fake.Clientset, resource string) []string {
	var out []string
	for _, a := range c.Actions() {
		d, ok := a.(clienttesting.DeleteActionImpl)
		if !ok || d.GetResource().Resource != resource {
			continue
		}
		grace, uid := "none", "none"
		if g := d.DeleteOptions.GracePeriodSeconds; g != nil {
			grace = fmt.Sprint(*g)
		}
		if p := d.DeleteOptions.Preconditions; p != nil && p.UID != nil {
			uid = string(*p.UID)
		}
		out = append(out, fmt.Sprintf("%s grace=%s uid=%s", objKey(d.GetNamespace(), d.GetName()), grace, uid))
	}
	return out
}

var cmpEquateEmpty = cmpopts.EquateEmpty()

// ignoreServerMeta ignores what the API server (here the fake) sets on objects, but for
// their UID.
var ignoreServerMeta = cmp.Options{
	cmpopts.IgnoreFields(metav1.ObjectMeta{}, "ResourceVersion", "ManagedFields", "CreationTimestamp", "Generation"),
	cmpopts.IgnoreFields(metav1.TypeMeta{}, "Kind", "APIVersion"),
	cmpEquateEmpty,
}

// ignoreServerFields ignores what the API server (here the fake) sets on objects.
var ignoreServerFields = cmp.Options{ignoreServerMeta, cmpopts.IgnoreFields(metav1.ObjectMeta{}, "UID")}

// lowerPods lists every pod of the lower cluster, sorted by namespace and name.
func lowerPods(t *testing.T, e *env) []corev1.Pod {
	t.Helper()
	list, err := e.lower.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(list.Items, func(i, j int) bool {
		return objKey(list.Items[i].Namespace, list.Items[i].Name) < objKey(list.Items[j].Namespace, list.Items[j].Name)
	})
	return list.Items
}

// names returns a function that lists the namespace/name of each object of a List
// call's result, sorted: names(t)(client.List(...)).
func names(t *testing.T) func(list runtime.Object, err error) []string {
	return func(list runtime.Object, err error) []string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, o := range items {
			m, _ := meta.Accessor(o)
			out = append(out, objKey(m.GetNamespace(), m.GetName()))
		}
		sort.Strings(out)
		return out
	}
}

// upperPod is an upper pod bound to the virtual node, as virtual-kubelet hands it over:
// it uses a ConfigMap (volume), a Secret (envFrom) and a ServiceAccount, and carries
// what steered it onto the virtual node.
func upperPod(name string, uid types.UID) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "app", UID: uid, ResourceVersion: "7",
			Labels: map[string]string{"app": "web", "version": "v1"}},
		Spec: corev1.PodSpec{
			NodeName:           owner.VirtualNode,
			SchedulerName:      "default-scheduler",
			ServiceAccountName: "builder",
			NodeSelector:       map[string]string{"type": "virtual-kubelet"},
			Tolerations:        []corev1.Toleration{{Key: "virtual-kubelet.io/provider", Operator: corev1.TolerationOpExists}},
			Containers: []corev1.Container{{Name: "web", Image: "nginx:1",
				EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}}}}}},
			Volumes: []corev1.Volume{{Name: "cfg", VolumeSource: corev1.VolumeSource{
				ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
}

// upperDeps are the upper objects upperPod uses, and the namespace's default
// ServiceAccount (which is never copied).
func upperDeps() []runtime.Object {
	return []runtime.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "app", UID: "up-ns-app"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "app", UID: "up-cfg"}, Data: map[string]string{"k": "v"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "app", UID: "up-creds"}, Data: map[string][]byte{"p": []byte("x")}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder", Namespace: "app", UID: "up-builder"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "app", UID: "up-default"}},
	}
}

// ownedPod is a lower pod this virtual node (o) created for the upper pod app/name of
// upperUID; lowerUID is its own UID.
func ownedPod(o translate.Owner, name string, upperUID, lowerUID types.UID) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: o.Namespaces.ToLower("app"), UID: lowerUID,
			Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1"}}},
	}
	o.Mark(p, upperUID)
	return p
}

// foreignPod is a lower pod this virtual node did not create.
func foreignPod(namespace, name string, lbls map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, UID: "foreign-uid", Labels: lbls,
			Annotations: map[string]string{"owner": "the lower cluster"}},
		Spec: corev1.PodSpec{NodeName: "lower-node-1", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
}

func objects[T runtime.Object](objs ...T) []runtime.Object {
	out := make([]runtime.Object, len(objs))
	for i, o := range objs {
		out[i] = o
	}
	return out
}
