package provider_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/tensile-kube/tensile/internal/provider"
	"github.com/tensile-kube/tensile/pkg/capacity"
)

// lowerServer is a lower API server that answers /readyz (200 or 500, or not at all
// while hang is set) and /version.
type lowerServer struct {
	srv        *httptest.Server
	ready      atomic.Bool
	hangReadyz atomic.Bool
	hangVer    atomic.Bool
	release    chan struct{} // closed at cleanup: hanging handlers return
}

func newLowerServer(t *testing.T) *lowerServer {
	t.Helper()
	s := &lowerServer{release: make(chan struct{})}
	s.ready.Store(true)
	hang := func(r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-s.release:
		}
	}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/readyz":
			if s.hangReadyz.Load() {
				hang(r)
				return
			}
			if !s.ready.Load() {
				http.Error(w, "[-]etcd failed: reason withheld\nreadyz check failed", http.StatusInternalServerError)
				return
			}
			_, _ = w.Write([]byte("ok"))
		case "/version":
			if s.hangVer.Load() {
				hang(r)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"major":"1","minor":"31","gitVersion":"v1.31.4"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(func() {
		close(s.release)
		s.srv.Close()
	})
	return s
}

func (s *lowerServer) client(t *testing.T) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(&rest.Config{Host: s.srv.URL, QPS: -1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var equalQuantities = cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })

func nodeTemplate() *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "vk-node", Labels: map[string]string{"type": "virtual-kubelet"}}}
}

// ready returns the node's Ready condition.
func ready(t *testing.T, n *corev1.Node) corev1.NodeCondition {
	t.Helper()
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c
		}
	}
	t.Fatalf("node %s has no Ready condition: %v", n.Name, n.Status.Conditions)
	return corev1.NodeCondition{}
}

// ping runs Ping, failing the test if it has not returned 3s after it started (the
// probe timeout is 200ms). A hanging lower server is released at cleanup.
func ping(t *testing.T, np *provider.NodeProvider) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- np.Ping(context.Background()) }()
	select {
	case err := <-done:
		return err
	case <-time.After(3 * time.Second):
		t.Fatal("Ping still running 3s after it started, with a 200ms probe timeout: the probe is not bounded by ProbeTimeout")
		return nil
	}
}

func newNodeProvider(t *testing.T, s *lowerServer, model *capacity.Model) *provider.NodeProvider {
	t.Helper()
	np, err := provider.NewNodeProvider(context.Background(), provider.NodeConfig{
		Template: nodeTemplate(), Lower: s.client(t), Model: model,
		MinInterval: time.Millisecond, ProbeTimeout: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("NewNodeProvider: %v", err)
	}
	return np
}

// TestNodeReadyFollowsLowerHealth: Ping never fails; Ready turns False with reason
// LowerClusterUnreachable while the lower /readyz fails or the server is gone, and True
// again when it answers. kubeletVersion is the lower version; capacity the model's.
func TestNodeReadyFollowsLowerHealth(t *testing.T) {
	s := newLowerServer(t)
	model := capacity.NewModel(capacity.Options{})
	alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"), corev1.ResourcePods: resource.MustParse("110")}
	model.SetNode(&corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "lower-node-1"},
		Status: corev1.NodeStatus{Allocatable: alloc,
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
	})
	np := newNodeProvider(t, s, model)

	check := func(what string, wantStatus corev1.ConditionStatus, wantReason string) {
		t.Helper()
		if err := ping(t, np); err != nil {
			t.Errorf("%s: Ping = %v, want nil", what, err)
		}
		n := np.Node()
		c := ready(t, n)
		if c.Status != wantStatus || c.Reason != wantReason {
			t.Errorf("%s: Ready = %s (%s: %s), want %s (%s)", what, c.Status, c.Reason, c.Message, wantStatus, wantReason)
		}
		if v := n.Status.NodeInfo.KubeletVersion; v != "v1.31.4" {
			t.Errorf("%s: kubeletVersion = %q, want the lower version v1.31.4 (last seen)", what, v)
		}
		if diff := cmp.Diff(alloc, n.Status.Capacity, equalQuantities); diff != "" {
			t.Errorf("%s: capacity (-want +got):\n%s", what, diff)
		}
	}

	check("lower ready", corev1.ConditionTrue, provider.ReasonLowerReady)
	if msg := ready(t, np.Node()).Message; !strings.Contains(msg, "1 of 1 lower nodes schedulable") {
		t.Errorf("Ready message = %q, want it to count the lower nodes", msg)
	}
	s.ready.Store(false)
	check("lower /readyz fails", corev1.ConditionFalse, provider.ReasonLowerUnreachable)
	if msg := ready(t, np.Node()).Message; !strings.Contains(msg, "unreachable or not ready") {
		t.Errorf("Ready message = %q, want it to say the lower API server is not ready", msg)
	}
	s.ready.Store(true)
	check("lower ready again", corev1.ConditionTrue, provider.ReasonLowerReady)
	s.hangReadyz.Store(true)
	check("lower /readyz hangs past the probe timeout", corev1.ConditionFalse, provider.ReasonLowerUnreachable)
	s.hangReadyz.Store(false)
	check("lower ready once more", corev1.ConditionTrue, provider.ReasonLowerReady)
	s.srv.CloseClientConnections()
	s.srv.Listener.Close()
	check("lower server gone", corev1.ConditionFalse, provider.ReasonLowerUnreachable)
}

// TestNewNodeProviderFailsFast: a lower cluster that is not ready at start is an error.
func TestNewNodeProviderFailsFast(t *testing.T) {
	s := newLowerServer(t)
	s.ready.Store(false)
	_, err := provider.NewNodeProvider(context.Background(), provider.NodeConfig{
		Template: nodeTemplate(), Lower: s.client(t), Model: capacity.NewModel(capacity.Options{}),
	})
	if err == nil {
		t.Fatal("NewNodeProvider with a lower /readyz failing succeeded, want an error")
	}
}

// TestNodeStatusNotifiedOnHealthChange: a change of the lower cluster's health pushes
// the node status through the NotifyNodeStatus callback.
func TestNodeStatusNotifiedOnHealthChange(t *testing.T) {
	s := newLowerServer(t)
	np := newNodeProvider(t, s, capacity.NewModel(capacity.Options{}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nodes := make(chan *corev1.Node, 100)
	np.NotifyNodeStatus(ctx, func(n *corev1.Node) { nodes <- n })
	s.ready.Store(false)
	if err := ping(t, np); err != nil {
		t.Fatalf("Ping = %v, want nil", err)
	}
	timeout := time.After(5 * time.Second)
	for {
		select {
		case n := <-nodes:
			if c := ready(t, n); c.Status == corev1.ConditionFalse && c.Reason == provider.ReasonLowerUnreachable {
				return
			}
		case <-timeout:
			t.Fatal("no node status with Ready=False pushed after the lower cluster became unready")
		}
	}
}

// TestPingBoundedByProbeTimeoutWhenVersionHangs: ProbeTimeout bounds the whole probe.
// A lower API server whose /readyz answers but whose /version then hangs must not hang
// Ping (virtual-kubelet runs one Ping at a time: a stuck one stops every later probe, so
// Ready would never change again).
func TestPingBoundedByProbeTimeoutWhenVersionHangs(t *testing.T) {
	s := newLowerServer(t)
	np := newNodeProvider(t, s, capacity.NewModel(capacity.Options{})) // ProbeTimeout 200ms
	s.hangVer.Store(true)
	if err := ping(t, np); err != nil {
		t.Errorf("Ping = %v, want nil", err)
	}
	if c := ready(t, np.Node()); c.Status != corev1.ConditionFalse {
		t.Errorf("Ready = %s (%s), want False: the probe did not complete", c.Status, c.Reason)
	}
}

// TestNodeStatusNotPushedWhenUnchanged: a capacity-model change that leaves the node as
// it was (a pod of this node's own, which the upper scheduler already counts) is not
// pushed, since virtual-kubelet turns every push into an upper Node write; a foreign
// pod, which takes capacity, is.
func TestNodeStatusNotPushedWhenUnchanged(t *testing.T) {
	s := newLowerServer(t)
	own := func(p *corev1.Pod) bool { return p.Labels["own"] == "true" }
	model := capacity.NewModel(capacity.Options{IsOwn: own})
	model.SetNode(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "lower-1"},
		Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourcePods: resource.MustParse("110")},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}})
	np := newNodeProvider(t, s, model)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nodes := make(chan *corev1.Node, 100)
	np.NotifyNodeStatus(ctx, func(n *corev1.Node) { nodes <- n })
	pod := func(name string, isOwn bool) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "app", UID: types.UID(name), Labels: map[string]string{"own": fmt.Sprint(isOwn)}},
			Spec: corev1.PodSpec{NodeName: "lower-1", Containers: []corev1.Container{{Name: "c",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	}
	model.SetPod(pod("first-foreign", false)) // a first push, to compare with
	first := <-nodes
	model.SetPod(pod("ours", true))
	select {
	case n := <-nodes:
		t.Errorf("pushed after our own pod, which changes nothing the node shows (CPU %s, first push %s)",
			n.Status.Allocatable.Cpu(), first.Status.Allocatable.Cpu())
	case <-time.After(300 * time.Millisecond): // the provider pushes within MinInterval (1ms)
	}
	model.SetPod(pod("second-foreign", false)) // still pushing what changes
	select {
	case n := <-nodes:
		if n.Status.Allocatable.Cpu().Cmp(*first.Status.Allocatable.Cpu()) >= 0 {
			t.Errorf("pushed CPU %s after a second foreign pod, first push %s", n.Status.Allocatable.Cpu(), first.Status.Allocatable.Cpu())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no push after a foreign pod took capacity")
	}
}
