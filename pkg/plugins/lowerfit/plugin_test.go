package lowerfit

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	clientsetfake "k8s.io/client-go/kubernetes/fake"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"

	"github.com/tensile-kube/tensile/pkg/capacity"
	"github.com/tensile-kube/tensile/pkg/constraints"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// newTestPlugin builds the plugin on a real framework handle backed by a fake
// clientset; summaries are fed to its store directly.
func newTestPlugin(t *testing.T) (*Plugin, *testClock) {
	pl, clock, _ := newTestPluginActivator(t)
	return pl, clock
}

// newTestPluginActivator is newTestPlugin that also returns the scheduling queue's
// stand-in, which records the pods the plugin activates.
func newTestPluginActivator(t *testing.T) (*Plugin, *testClock, *testActivator) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	client := clientsetfake.NewClientset()
	activator := &testActivator{}
	fh, err := frameworkruntime.NewFramework(ctx, nil, nil,
		frameworkruntime.WithClientSet(client),
		frameworkruntime.WithPodActivator(activator),
		frameworkruntime.WithInformerFactory(informers.NewSharedInformerFactory(client, 0)))
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{now: t0}
	pl, err := newPlugin(nil, fh, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	return pl, clock, activator
}

func lowerNode(name, cpu string, labels ...string) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("32Gi"), corev1.ResourcePods: resource.MustParse("110")},
			Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
	for i := 0; i+1 < len(labels); i += 2 {
		n.Labels[labels[i]] = labels[i+1]
	}
	return n
}

// publish feeds the store a summary of the given lower nodes, built at updated.
func publish(pl *Plugin, vnode string, updated time.Time, nodes ...*corev1.Node) *capacity.Model {
	m := capacity.NewModel(capacity.Options{})
	for _, n := range nodes {
		m.SetNode(n)
	}
	republish(pl, m, vnode, updated)
	return m
}

func republish(pl *Plugin, m *capacity.Model, vnode string, updated time.Time) {
	st := m.Summary()
	st.VirtualNode = vnode
	st.UpdateTime = metav1.NewMicroTime(updated)
	pl.store.setSummary(capacity.NewIndex(st))
}

func virtualNode(name string) fwk.NodeInfo {
	ni := framework.NewNodeInfo()
	ni.SetNode(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"type": "virtual-kubelet", "kubernetes.io/role": "agent"}}})
	return ni
}

func realNode(name string) fwk.NodeInfo {
	ni := framework.NewNodeInfo()
	ni.SetNode(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}})
	return ni
}

func upperPod(name, cpu string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("uid-" + name)},
		Spec: corev1.PodSpec{
			SchedulerName: "multi-scheduler",
			NodeSelector:  map[string]string{"type": "virtual-kubelet"},
			Tolerations:   []corev1.Toleration{{Key: "virtual-kubelet.io/provider", Operator: corev1.TolerationOpExists}},
			Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}}},
		},
	}
}

// schedule runs PreFilter, Filter on ni and, when it passes, Reserve, as one
// scheduling cycle would.
func schedule(t *testing.T, pl *Plugin, pod *corev1.Pod, ni fwk.NodeInfo) *fwk.Status {
	t.Helper()
	ctx := context.Background()
	state := framework.NewCycleState()
	if _, st := pl.PreFilter(ctx, state, pod, nil); !st.IsSuccess() {
		t.Fatalf("PreFilter: %v", st)
	}
	st := pl.Filter(ctx, state, pod, ni)
	if st.IsSuccess() {
		if rs := pl.Reserve(ctx, state, pod, ni.Node().Name); !rs.IsSuccess() {
			t.Fatalf("Reserve: %v", rs)
		}
	}
	return st
}

// TestBurst: four 6 CPU pods in a row for three 8 CPU lower nodes, with no summary in
// between: three pass, the fourth is turned away; releasing one lets it in.
func TestBurst(t *testing.T) {
	pl, _ := newTestPlugin(t)
	publish(pl, "vk-a", t0, lowerNode("a", "8"), lowerNode("b", "8"), lowerNode("c", "8"))
	vk := virtualNode("vk-a")
	for i := 1; i <= 3; i++ {
		if st := schedule(t, pl, upperPod(fmt.Sprintf("p%d", i), "6"), vk); !st.IsSuccess() {
			t.Fatalf("pod %d rejected: %v", i, st)
		}
	}
	fourth := upperPod("p4", "6")
	st := schedule(t, pl, fourth, vk)
	if st.Code() != fwk.UnschedulableAndUnresolvable {
		t.Fatalf("fourth pod: %v, want UnschedulableAndUnresolvable", st)
	}
	if want := "vk-a: no lower node has 6 CPU free; largest is 2"; st.Message() != want {
		t.Errorf("message = %q, want %q", st.Message(), want)
	}
	pl.Unreserve(context.Background(), nil, upperPod("p2", "6"), "vk-a")
	pl.Unreserve(context.Background(), nil, upperPod("p2", "6"), "vk-a") // idempotent
	if st := schedule(t, pl, fourth, vk); !st.IsSuccess() {
		t.Errorf("after Unreserve the fourth pod is still rejected: %v", st)
	}
}

func TestFilter(t *testing.T) {
	pl, clock := newTestPlugin(t)
	publish(pl, "vk-a", t0, lowerNode("a", "4"), lowerNode("b", "4"), lowerNode("c", "4"))
	publish(pl, "vk-old", t0.Add(-time.Minute), lowerNode("a", "64"))
	clock.Set(t0.Add(5 * time.Second))
	tests := []struct {
		name     string
		pod      *corev1.Pod
		node     fwk.NodeInfo
		wantCode fwk.Code
		wantMsg  string
	}{
		{name: "not a virtual node: no opinion", pod: upperPod("p", "64"), node: realNode("worker"), wantCode: fwk.Success},
		{name: "fits a lower node", pod: upperPod("p", "4"), node: virtualNode("vk-a"), wantCode: fwk.Success},
		{name: "fragmented", pod: upperPod("p", "6"), node: virtualNode("vk-a"), wantCode: fwk.UnschedulableAndUnresolvable,
			wantMsg: "vk-a: no lower node has 6 CPU free; largest is 4"},
		{name: "no summary", pod: upperPod("p", "1"), node: virtualNode("vk-b"), wantCode: fwk.UnschedulableAndUnresolvable,
			wantMsg: "vk-b: no summary"},
		{name: "stale summary", pod: upperPod("p", "1"), node: virtualNode("vk-old"), wantCode: fwk.UnschedulableAndUnresolvable,
			wantMsg: "vk-old: summary stale (updated 1m5s ago, max 30s)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := schedule(t, pl, tc.pod, tc.node)
			if st.Code() != tc.wantCode {
				t.Fatalf("code = %v (%s), want %v", st.Code(), st.Message(), tc.wantCode)
			}
			if tc.wantMsg != "" && st.Message() != tc.wantMsg {
				t.Errorf("message = %q, want %q", st.Message(), tc.wantMsg)
			}
		})
	}
}

// TestFilterConstraints: the pod's own virtual-node selector and toleration do not
// leak into the lower question, while a zone selector does.
func TestFilterConstraints(t *testing.T) {
	pl, _ := newTestPlugin(t)
	publish(pl, "vk-a", t0, lowerNode("a", "8", "zone", "z1"), lowerNode("b", "2", "zone", "z2"))
	pod := upperPod("p", "4")
	pod.Spec.NodeSelector["zone"] = "z2"
	st := schedule(t, pl, pod, virtualNode("vk-a"))
	if want := "vk-a: no lower node has 4 CPU free; largest is 2"; st.Message() != want {
		t.Errorf("message = %q, want %q", st.Message(), want)
	}
	pod.Spec.NodeSelector["zone"] = "z1"
	if st := schedule(t, pl, pod, virtualNode("vk-a")); !st.IsSuccess() {
		t.Errorf("zone z1 pod rejected: %v", st)
	}
}

// TestFilterKeptUpperConstraint: the webhook saves the zone selector and keeps a
// required "type NotIn [gpu]" upper (type is on its ignore list). The lower pod
// carries both, so the fit check must too: a cluster whose only z1 node is a gpu
// node cannot take the pod.
func TestFilterKeptUpperConstraint(t *testing.T) {
	pl, _ := newTestPlugin(t)
	publish(pl, "vk-a", t0, lowerNode("g", "8", "zone", "z1", "type", "gpu"), lowerNode("c", "8", "zone", "z2", "type", "cpu"))
	pod := upperPod("p", "1")
	pod.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
			{Key: "type", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"gpu"}},
		}}}}}}
	if err := constraints.Save(pod, &constraints.Constraints{NodeSelector: map[string]string{"zone": "z1"}}); err != nil {
		t.Fatal(err)
	}
	st := schedule(t, pl, pod, virtualNode("vk-a"))
	if want := "vk-a: no lower node matches the pod's node selector/affinity"; st.Message() != want {
		t.Errorf("status = %v %q, want %q", st.Code(), st.Message(), want)
	}
	if err := constraints.Save(pod, &constraints.Constraints{NodeSelector: map[string]string{"zone": "z2"}}); err != nil {
		t.Fatal(err)
	}
	if st := schedule(t, pl, pod, virtualNode("vk-a")); !st.IsSuccess() {
		t.Errorf("zone z2 pod rejected: %v", st)
	}
}

func TestScore(t *testing.T) {
	pl, _ := newTestPlugin(t)
	publish(pl, "vk-small", t0, lowerNode("a", "8"))
	publish(pl, "vk-big", t0, lowerNode("a", "8"), lowerNode("b", "8"))
	ctx := context.Background()
	pod := upperPod("p", "2")
	state := framework.NewCycleState()
	pl.PreFilter(ctx, state, pod, nil)
	var scores fwk.NodeScoreList
	for _, ni := range []fwk.NodeInfo{virtualNode("vk-small"), virtualNode("vk-big"), realNode("worker")} {
		s, st := pl.Score(ctx, state, pod, ni)
		if !st.IsSuccess() {
			t.Fatal(st)
		}
		scores = append(scores, fwk.NodeScore{Name: ni.Node().Name, Score: s})
	}
	if st := pl.NormalizeScore(ctx, state, pod, scores); !st.IsSuccess() {
		t.Fatal(st)
	}
	got := map[string]int64{}
	for _, s := range scores {
		got[s.Name] = s.Score
	}
	if got["vk-big"] != 100 || got["vk-small"] != 50 || got["worker"] != neutralScore {
		t.Errorf("scores = %v, want vk-big 100, vk-small 50, worker %d", got, neutralScore)
	}
}

func scheduledBelow(pod *corev1.Pod, at time.Time) *corev1.Pod {
	p := pod.DeepCopy()
	p.Spec.NodeName = "vk-a"
	p.Status.HostIP = "10.0.0.7"
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(at)}}
	return p
}

// TestReservationRelease covers each way a reservation ends.
func TestReservationRelease(t *testing.T) {
	placed := t0.Add(2 * time.Second)
	tests := []struct {
		name string
		// after runs once the pod is reserved on vk-a; m is vk-a's lower model.
		after    func(pl *Plugin, m *capacity.Model, clock *testClock, pod *corev1.Pod)
		wantHeld bool
	}{
		{
			name: "a summary newer than the placement releases it",
			after: func(pl *Plugin, m *capacity.Model, _ *testClock, pod *corev1.Pod) {
				pl.store.observePod(scheduledBelow(pod, placed))
				m.SetPod(lowerPod("a", "6"))
				republish(pl, m, "vk-a", placed.Add(2*time.Second))
			},
		},
		{
			name: "a summary from the same second does not",
			after: func(pl *Plugin, m *capacity.Model, _ *testClock, pod *corev1.Pod) {
				pl.store.observePod(scheduledBelow(pod, placed))
				republish(pl, m, "vk-a", placed.Add(500*time.Millisecond))
			},
			wantHeld: true,
		},
		{
			name: "a newer summary alone, with the pod not yet placed below, does not",
			after: func(pl *Plugin, m *capacity.Model, _ *testClock, _ *corev1.Pod) {
				republish(pl, m, "vk-a", placed.Add(time.Minute))
			},
			wantHeld: true,
		},
		{
			name: "PodScheduled=True without a host IP may be the upper binding: held",
			after: func(pl *Plugin, m *capacity.Model, _ *testClock, pod *corev1.Pod) {
				p := scheduledBelow(pod, placed)
				p.Status.HostIP = ""
				pl.store.observePod(p)
				republish(pl, m, "vk-a", placed.Add(time.Minute))
			},
			wantHeld: true,
		},
		{
			name: "unschedulable below releases it",
			after: func(pl *Plugin, _ *capacity.Model, _ *testClock, pod *corev1.Pod) {
				p := pod.DeepCopy()
				p.Spec.NodeName = "vk-a"
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}}
				pl.store.observePod(p)
			},
		},
		{
			name: "deletion releases it",
			after: func(pl *Plugin, _ *capacity.Model, _ *testClock, pod *corev1.Pod) {
				pl.podHandler().OnDelete(pod)
			},
		},
		{
			name: "the TTL releases it",
			after: func(pl *Plugin, _ *capacity.Model, clock *testClock, _ *corev1.Pod) {
				clock.Set(t0.Add(pl.args.ReservationTTL.Duration + time.Second))
				pl.store.expire()
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pl, clock := newTestPlugin(t)
			m := publish(pl, "vk-a", t0, lowerNode("a", "8"))
			pod := upperPod("p", "6")
			if st := schedule(t, pl, pod, virtualNode("vk-a")); !st.IsSuccess() {
				t.Fatal(st)
			}
			tc.after(pl, m, clock, pod)
			pl.store.mu.Lock()
			held := pl.store.byPod[pod.UID] != nil
			pl.store.mu.Unlock()
			if held != tc.wantHeld {
				t.Errorf("reservation held = %v, want %v", held, tc.wantHeld)
			}
		})
	}
}

func lowerPod(node, cpu string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "lower-" + node},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
}

// TestReleasedPodIsNotCountedTwice: once the summary counts the pod and the
// reservation is gone, the capacity it took is taken exactly once.
func TestReleasedPodIsNotCountedTwice(t *testing.T) {
	pl, _ := newTestPlugin(t)
	m := publish(pl, "vk-a", t0, lowerNode("a", "8"), lowerNode("b", "8"))
	pod := upperPod("p", "6")
	if st := schedule(t, pl, pod, virtualNode("vk-a")); !st.IsSuccess() {
		t.Fatal(st)
	}
	pl.store.observePod(scheduledBelow(pod, t0.Add(time.Second)))
	m.SetPod(lowerPod("a", "6"))
	republish(pl, m, "vk-a", t0.Add(3*time.Second))
	if st := schedule(t, pl, upperPod("q", "6"), virtualNode("vk-a")); !st.IsSuccess() {
		t.Fatalf("second pod should fit node b: %v", st)
	}
	st := schedule(t, pl, upperPod("r", "6"), virtualNode("vk-a"))
	if !strings.Contains(st.Message(), "no lower node has 6 CPU free") {
		t.Errorf("third pod: %v", st)
	}
}
