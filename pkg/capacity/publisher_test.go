package capacity

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tensile-kube/tensile/internal/eventually"
	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
	tensilefake "github.com/tensile-kube/tensile/pkg/generated/clientset/versioned/fake"
)

// statusWrites counts the status updates the publisher made.
func statusWrites(c *tensilefake.Clientset) int {
	n := 0
	for _, a := range c.Actions() {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" {
			n++
		}
	}
	return n
}

func readSummary(t *testing.T, c *tensilefake.Clientset, name string) *v1alpha1.ClusterSummary {
	t.Helper()
	cs, err := c.TensileV1alpha1().ClusterSummaries().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func TestPublishOnce(t *testing.T) {
	client := tensilefake.NewSimpleClientset()
	m := NewModel(Options{})
	m.SetNode(makeNode("a", "8", "32Gi"))
	clock := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
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
	client := tensilefake.NewSimpleClientset()
	m := NewModel(Options{})
	p, err := NewPublisher(PublisherConfig{Source: m, Client: client, VirtualNode: "vk-a", MinInterval: 300 * time.Millisecond, Heartbeat: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	eventually.True(t, 5*time.Second, "the publisher's writes", func() bool { return statusWrites(client) == 1 })
	for i := 0; i < 100; i++ {
		m.SetNode(makeNode(fmt.Sprintf("n%d", i), "4", "8Gi"))
	}
	eventually.True(t, 5*time.Second, "the publisher's writes", func() bool { return statusWrites(client) >= 2 })
	time.Sleep(700 * time.Millisecond)
	if n := statusWrites(client); n != 2 {
		t.Errorf("status writes = %d, want 2 (initial + one for the burst)", n)
	}
	if got := readSummary(t, client, "vk-a").Status.NodeCount; got != 100 {
		t.Errorf("published node count = %d, want 100", got)
	}
}
