package lowerfit

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
	"github.com/tensile-kube/tensile/pkg/capacity"
	tensilefake "github.com/tensile-kube/tensile/pkg/generated/clientset/versioned/fake"
)

// testActivator stands for the scheduling queue: it records the pods activated.
type testActivator struct {
	mu  sync.Mutex
	got []string
}

func (a *testActivator) Activate(_ klog.Logger, pods map[string]*corev1.Pod) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k := range pods {
		a.got = append(a.got, k)
	}
	slices.Sort(a.got)
}

// take returns and forgets the pods activated so far.
func (a *testActivator) take() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.got
	a.got = nil
	return out
}

// modelSummary is the ClusterSummary object of virtual node vnode for m, built at
// updated, as the informer would hand it over.
func modelSummary(m *capacity.Model, vnode string, updated time.Time) *v1alpha1.ClusterSummary {
	st := m.Summary()
	st.UpdateTime = metav1.NewMicroTime(updated)
	return &v1alpha1.ClusterSummary{ObjectMeta: metav1.ObjectMeta{Name: vnode}, Status: *st}
}

func TestEventsToRegister(t *testing.T) {
	pl, _ := newTestPlugin(t)
	evs, err := pl.EventsToRegister(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []fwk.EventResource
	for _, ev := range evs {
		got = append(got, ev.Event.Resource)
	}
	// No custom resource: kube-scheduler would start a dynamic informer holding a
	// second copy of every ClusterSummary.
	if want := []fwk.EventResource{fwk.Node, fwk.AssignedPod}; !slices.Equal(got, want) {
		t.Errorf("events on %v, want %v", got, want)
	}
}

func TestQueueingHints(t *testing.T) {
	pl, clock := newTestPlugin(t)
	clock.Set(t0.Add(5 * time.Second))
	logger := klog.Background()
	pod := upperPod("p", "6")
	vnode := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "vk-a", Labels: map[string]string{"type": "virtual-kubelet"}}}
	worker := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "worker"}}
	tests := []struct {
		name string
		hint func() (fwk.QueueingHint, error)
		want fwk.QueueingHint
	}{
		{name: "virtual node added", want: fwk.Queue, hint: func() (fwk.QueueingHint, error) {
			return pl.hintNode(logger, pod, nil, vnode)
		}},
		{name: "ordinary node added", want: fwk.QueueSkip, hint: func() (fwk.QueueingHint, error) {
			return pl.hintNode(logger, pod, nil, worker)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.hint()
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("hint = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestIndexFromSummary(t *testing.T) {
	cs := &v1alpha1.ClusterSummary{
		ObjectMeta: metav1.ObjectMeta{Name: "vk-a"},
		Status:     v1alpha1.ClusterSummaryStatus{VirtualNode: "other", ContentHash: "h1", UpdateTime: metav1.NewMicroTime(t0)},
	}
	ix := indexFromSummary(cs)
	if ix.VirtualNode != "vk-a" || !ix.UpdateTime.Equal(t0) || ix.ContentHash != "h1" {
		t.Errorf("index = %+v", ix)
	}
	if cs.Status.VirtualNode != "other" {
		t.Errorf("the informer's object was modified: status.virtualNode = %q", cs.Status.VirtualNode)
	}
}

// TestSummaryActivatesWaitingPods: the plugin's own informer requeues the pods it
// turned away. A changed summary activates them, and the retry sees that summary; a
// heartbeat of a fresh summary does not; one that revives a stale summary does. A
// pod placed or deleted is no longer waiting, and an older copy activates nothing.
func TestSummaryActivatesWaitingPods(t *testing.T) {
	pl, clock, activator := newTestPluginActivator(t)
	clock.Set(t0.Add(5 * time.Second))
	h := pl.summaryHandler(klog.Background())
	m := capacity.NewModel(capacity.Options{})
	m.SetNode(lowerNode("small", "4"))
	summary := func(updated time.Time) *v1alpha1.ClusterSummary { return modelSummary(m, "vk-a", updated) }
	small := summary(t0)
	h.OnAdd(small, false)
	if got := activator.take(); got != nil {
		t.Errorf("activated %v with no pod waiting", got)
	}

	// try schedules a new pod of cpu on vk-a and checks the answer.
	try := func(name, cpu string, fits bool) *corev1.Pod {
		t.Helper()
		p := upperPod(name, cpu)
		p.UID = types.UID("uid-" + name)
		if st := schedule(t, pl, p, virtualNode("vk-a")); st.IsSuccess() != fits {
			t.Fatalf("a %s CPU pod: %v, want fits=%v", cpu, st, fits)
		}
		return p
	}
	big := try("big", "6", false)
	try("fits", "2", true)
	pl.podHandler().OnDelete(try("gone", "6", false))

	heartbeat := summary(t0.Add(time.Second))
	h.OnUpdate(small, heartbeat)
	if got := activator.take(); got != nil {
		t.Errorf("a heartbeat of a fresh summary activated %v", got)
	}

	m.SetNode(lowerNode("big", "8"))
	changed := summary(t0.Add(2 * time.Second))
	h.OnUpdate(heartbeat, changed)
	if got, want := activator.take(), []string{types.NamespacedName{Namespace: big.Namespace, Name: big.Name}.String()}; !slices.Equal(got, want) {
		t.Errorf("a changed summary activated %v, want %v (placed and deleted pods do not wait)", got, want)
	}
	if st := schedule(t, pl, big, virtualNode("vk-a")); !st.IsSuccess() {
		t.Fatalf("retry after the change: %v", st)
	}

	try("late", "64", false)
	h.OnUpdate(changed, small) // an older copy
	if got := activator.take(); got != nil {
		t.Errorf("an older summary activated %v", got)
	}
	clock.Set(t0.Add(2*time.Second + pl.args.MaxSummaryAge.Duration + time.Second))
	h.OnUpdate(changed, summary(clock.Now()))
	if got := activator.take(); len(got) != 1 {
		t.Errorf("a heartbeat reviving a stale summary activated %v, want the waiting pod", got)
	}
	clock.Set(clock.Now().Add(podMaxBackoffDuration))
	m.SetNode(lowerNode("huge", "16"))
	h.OnUpdate(changed, summary(clock.Now()))
	if got := activator.take(); got != nil {
		t.Errorf("a change activated %v again before the pod came back", got)
	}
}

// TestCompileSummary: the informer's transform keeps the summary's identity and its
// compiled index only, is idempotent, and compiles a heartbeat's content only once.
func TestCompileSummary(t *testing.T) {
	pl, _ := newTestPlugin(t)
	m := capacity.NewModel(capacity.Options{})
	m.SetNode(lowerNode("small", "4"))
	st := m.Summary()
	st.UpdateTime = metav1.NewMicroTime(t0)
	cs := &v1alpha1.ClusterSummary{ObjectMeta: metav1.ObjectMeta{Name: "vk-a", ResourceVersion: "7",
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "virtual-node"}}}, Status: *st}
	obj, err := pl.compileSummary(cs)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := obj.(*compiledSummary)
	if !ok {
		t.Fatalf("transform gave %T", obj)
	}
	if c.Name != "vk-a" || c.ResourceVersion != "7" || c.ManagedFields != nil || c.index.VirtualNode != "vk-a" || c.index.ContentHash != st.ContentHash {
		t.Errorf("compiled = %+v, index %+v", c.ObjectMeta, c.index)
	}
	if again, _ := pl.compileSummary(c); again != obj {
		t.Error("the transform is not idempotent")
	}
	pl.store.setSummary(c.index)
	beat := cs.DeepCopy()
	beat.Status.UpdateTime = metav1.NewMicroTime(t0.Add(time.Second))
	beat.Status.Groups = nil // same hash: the groups must come from the held index
	obj, _ = pl.compileSummary(beat)
	ix := obj.(*compiledSummary).index
	if !ix.UpdateTime.Equal(t0.Add(time.Second)) {
		t.Errorf("heartbeat index time = %v", ix.UpdateTime)
	}
	if r := ix.Fit(capacity.NewQuery(capacity.PodRequests(upperPod("p", "2")), nil)); !r.Fits() {
		t.Errorf("heartbeat index lost the held groups: %s", r.Message)
	}
}

// TestWatchCompilesSummaries runs the plugin's informer on a fake API: summaries
// reach the store through the transform, and a change activates the waiting pod.
func TestWatchCompilesSummaries(t *testing.T) {
	pl, clock, activator := newTestPluginActivator(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := capacity.NewModel(capacity.Options{})
	m.SetNode(lowerNode("small", "4"))
	summary := func(updated time.Time) *v1alpha1.ClusterSummary { return modelSummary(m, "vk-a", updated) }
	client := tensilefake.NewSimpleClientset(summary(t0))
	clock.Set(t0.Add(time.Second))
	factory, inf, err := pl.summaryInformer(klog.Background(), client)
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("informer not synced")
	}
	for _, obj := range inf.GetStore().List() {
		if _, ok := obj.(*compiledSummary); !ok {
			t.Errorf("the informer's cache holds a %T, want only compiled summaries", obj)
		}
	}
	if !pl.store.snapshot().isVirtualName("vk-a") {
		t.Fatal("the listed summary is not in the store")
	}
	p := upperPod("big", "6")
	p.UID = "uid-big"
	if st := schedule(t, pl, p, virtualNode("vk-a")); st.IsSuccess() {
		t.Fatal("a 6 CPU pod fits lower nodes of 4 CPU")
	}
	m.SetNode(lowerNode("big", "8"))
	if _, err := client.TensileV1alpha1().ClusterSummaries().Update(ctx, summary(t0.Add(time.Second)), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(activator.take()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the changed summary activated no pod")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := schedule(t, pl, p, virtualNode("vk-a")); !st.IsSuccess() {
		t.Fatalf("retry after the change: %v", st)
	}
}
