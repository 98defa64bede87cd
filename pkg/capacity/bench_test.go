package capacity

import (
	"fmt"
	"testing"
)

// benchModel is a lower cluster of n 16 CPU nodes in three zones, each running one
// pod of a varying size.
func benchModel(b *testing.B, n int) *Model {
	b.Helper()
	m := NewModel(Options{})
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("n%05d", i)
		m.SetNode(makeNode(name, "16", "64Gi", withLabel("topology.kubernetes.io/zone", fmt.Sprintf("z%d", i%3))))
		m.SetPod(makePod(name, name, fmt.Sprintf("%dm", (i*373)%15000), fmt.Sprintf("%dMi", (i*97)%60000)))
	}
	return m
}

// BenchmarkModelNodeUpdate is the cost of one node update event (a status change
// that moves nothing, as most node updates are) in a 10,000-node cluster.
func BenchmarkModelNodeUpdate(b *testing.B) {
	m := benchModel(b, 10000)
	nodes := make([]any, 100)
	for i := range nodes {
		name := fmt.Sprintf("n%05d", i*97)
		nodes[i] = makeNode(name, "16", "64Gi", withLabel("topology.kubernetes.io/zone", fmt.Sprintf("z%d", (i*97)%3)))
	}
	h := m.NodeHandler()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.OnUpdate(nil, nodes[i%len(nodes)])
	}
}

// BenchmarkModelPodEvent is the cost of one pod event (alternately bind and delete) in
// a 10,000-node cluster.
func BenchmarkModelPodEvent(b *testing.B) {
	m := benchModel(b, 10000)
	pods := make([]any, 100)
	for i := range pods {
		pods[i] = makePod(fmt.Sprintf("extra%d", i), fmt.Sprintf("n%05d", i*97), "100m", "128Mi")
	}
	h := m.PodHandler()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := pods[i%len(pods)]
		if (i/len(pods))%2 == 0 {
			h.OnAdd(p, false)
		} else {
			h.OnDelete(p)
		}
	}
}

// BenchmarkSummaryBuild is the cost of Summary() at 10,000 nodes: "full" rebuilds
// every group, "one-change" follows a single pod event (one group rebuilt).
func BenchmarkSummaryBuild(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		m := benchModel(b, n)
		b.Run(fmt.Sprintf("nodes=%d/full", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				m.mu.Lock()
				for _, g := range m.groups {
					g.dirty = true
				}
				m.mu.Unlock()
				_ = m.Summary()
			}
		})
		b.Run(fmt.Sprintf("nodes=%d/one-change", n), func(b *testing.B) {
			p := makePod("churn", "n00000", "1", "")
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if i%2 == 0 {
					m.SetPod(p)
				} else {
					m.DeletePod(p.Namespace, p.Name)
				}
				_ = m.Summary()
			}
		})
	}
}
