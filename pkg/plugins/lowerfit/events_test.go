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
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
	"github.com/tensile-kube/tensile/pkg/capacity"
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
	summary := func(updated time.Time) *v1alpha1.ClusterSummary {
		st := m.Summary()
		st.UpdateTime = metav1.NewMicroTime(updated)
		return &v1alpha1.ClusterSummary{ObjectMeta: metav1.ObjectMeta{Name: "vk-a"}, Status: *st}
	}
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
	if n := pl.waiting.len(); n != 0 {
		t.Errorf("%d pods still waiting after activation", n)
	}
}
