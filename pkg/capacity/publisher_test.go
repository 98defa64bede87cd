package capacity

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
)

func newFakeDynamic(t *testing.T) *dynamicfake.FakeDynamicClient {
	t.Helper()
	s := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(s,
		map[schema.GroupVersionResource]string{v1alpha1.ClusterSummaryGVR: "ClusterSummaryList"})
}

// statusWrites counts the status updates the publisher made.
func statusWrites(c *dynamicfake.FakeDynamicClient) int {
	n := 0
	for _, a := range c.Actions() {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" {
			n++
		}
	}
	return n
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func readSummary(t *testing.T, c *dynamicfake.FakeDynamicClient, name string) *v1alpha1.ClusterSummary {
	t.Helper()
	u, err := c.Resource(v1alpha1.ClusterSummaryGVR).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cs := &v1alpha1.ClusterSummary{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, cs); err != nil {
		t.Fatal(err)
	}
	return cs
}

func TestPublishOnce(t *testing.T) {
	client := newFakeDynamic(t)
	m := NewModel(Options{})
	m.SetNode(makeNode("a", "8", "32Gi"))
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	p, err := NewPublisher(PublisherConfig{Source: m, Client: client, VirtualNode: "vk-a", LowerVersion: "v1.37.2", Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	steps := []struct {
		name      string
		before    func()
		wantWrote bool
	}{
		{name: "first publish creates the object", wantWrote: true},
		{name: "nothing changed: no write", before: func() { clock.Step(time.Second) }},
		{name: "a status-only change is no change", before: func() { m.SetNode(makeNode("a", "8", "32Gi")) }},
		{name: "a change is written", before: func() { m.SetPod(makePod("p", "a", "2", "")) }, wantWrote: true},
		{name: "the heartbeat rewrites an unchanged summary", before: func() { clock.Step(DefaultHeartbeat) }, wantWrote: true},
	}
	for _, s := range steps {
		if s.before != nil {
			s.before()
		}
		wrote, err := p.PublishOnce(ctx)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if wrote != s.wantWrote {
			t.Errorf("%s: wrote = %v, want %v", s.name, wrote, s.wantWrote)
		}
	}
	cs := readSummary(t, client, "vk-a")
	if cs.Status.VirtualNode != "vk-a" || cs.Status.LowerVersion != "v1.37.2" {
		t.Errorf("status identity = %q/%q", cs.Status.VirtualNode, cs.Status.LowerVersion)
	}
	if got := cs.Status.Totals.Requested["cpu"]; got != 2000 {
		t.Errorf("published requested cpu = %d, want 2000", got)
	}
	if !cs.Status.UpdateTime.Time.Equal(clock.Now()) {
		t.Errorf("updateTime = %v, want %v", cs.Status.UpdateTime, clock.Now())
	}
	if len(cs.Status.Groups) != 1 || cs.Status.Groups[0].Slots[0].Free["cpu"] != 6000 {
		t.Errorf("published groups = %+v", cs.Status.Groups)
	}
}

func TestNewPublisherValidates(t *testing.T) {
	if _, err := NewPublisher(PublisherConfig{}); err == nil {
		t.Fatal("empty config accepted")
	}
}

// TestPublisherCoalesces: a burst of changes within MinInterval becomes one write.
func TestPublisherCoalesces(t *testing.T) {
	client := newFakeDynamic(t)
	m := NewModel(Options{})
	p, err := NewPublisher(PublisherConfig{Source: m, Client: client, VirtualNode: "vk-a", MinInterval: 300 * time.Millisecond, Heartbeat: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	waitFor(t, func() bool { return statusWrites(client) == 1 })
	for i := 0; i < 100; i++ {
		m.SetNode(makeNode(fmt.Sprintf("n%d", i), "4", "8Gi"))
	}
	waitFor(t, func() bool { return statusWrites(client) >= 2 })
	time.Sleep(700 * time.Millisecond)
	if n := statusWrites(client); n != 2 {
		t.Errorf("status writes = %d, want 2 (initial + one for the burst)", n)
	}
	if got := readSummary(t, client, "vk-a").Status.NodeCount; got != 100 {
		t.Errorf("published node count = %d, want 100", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
