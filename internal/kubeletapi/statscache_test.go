package kubeletapi

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tensile-kube/tensile/internal/eventually"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

// cachedProxy returns a Proxy of the fake lower cluster with the given stats timing.
func cachedProxy(tb testing.TB, f *fakeLower, cfg Config, owned ...OwnedPod) *Proxy {
	tb.Helper()
	cfg.NodeName, cfg.LowerConfig = "vnode", f.config()
	cfg.OwnedPods = func(context.Context) ([]OwnedPod, error) { return owned, nil }
	p, err := NewProxy(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// nodeCPU returns the virtual node's summed CPU usage in a summary.
func nodeCPU(t *testing.T, p *Proxy) uint64 {
	t.Helper()
	s, err := p.GetStatsSummary(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return *s.Node.CPU.UsageNanoCores
}

// setNodeCPU makes the fake lower node serve a summary with the given CPU usage.
func setNodeCPU(t *testing.T, f *fakeLower, node string, cpu uint64) {
	t.Helper()
	b, err := json.Marshal(statsv1alpha1.Summary{Node: statsv1alpha1.NodeStats{NodeName: node, CPU: &statsv1alpha1.CPUStats{UsageNanoCores: ptr.To(cpu)}}})
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.proxied[node+"/stats/summary"] = string(b)
}

// TestStatsCacheAgeBounds: a value younger than the refresh interval is served without
// asking the lower nodes; one older is served while a refresh runs; one older than
// StatsMaxAge is never served.
func TestStatsCacheAgeBounds(t *testing.T) {
	lower, ownedPods := statsBed(t)
	fc := testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	p := cachedProxy(t, lower, Config{Clock: fc, StatsRefreshInterval: 10 * time.Second, StatsMaxAge: 30 * time.Second}, ownedPods...)
	scrapes := func() int { return len(lower.recorded("/proxy/stats/summary")) }

	if got := nodeCPU(t, p); got != 300 || scrapes() != 3 {
		t.Fatalf("first read: cpu %d after %d node scrapes, want 300 after 3", got, scrapes())
	}
	if pods := p.summaries.snap.val.summaries["n1"].Pods; len(pods) != 1 {
		t.Errorf("the cache keeps %d pods of n1, want only the owned one", len(pods))
	}
	setNodeCPU(t, lower, "n2", 500)
	fc.Step(9 * time.Second)
	if got := nodeCPU(t, p); got != 300 || scrapes() != 3 {
		t.Errorf("read within the interval: cpu %d after %d node scrapes, want the cached 300 after 3", got, scrapes())
	}

	fc.Step(2 * time.Second) // 11 s old: served, and refreshed behind the read
	if got := nodeCPU(t, p); got != 300 {
		t.Errorf("read after the interval: cpu %d, want the cached 300 while it refreshes", got)
	}
	eventually.True(t, 10*time.Second, "the refresh started by a stale read", func() bool { return nodeCPU(t, p) == 600 })
	if n := scrapes(); n != 6 {
		t.Errorf("%d node scrapes, want 6: one refresh for all reads", n)
	}

	lower.server.Close()
	fc.Step(15 * time.Second) // within StatsMaxAge: the last value stands though refreshes fail
	if got := nodeCPU(t, p); got != 600 {
		t.Errorf("lower cluster down, value 15 s old: cpu %d, want the cached 600", got)
	}
	fc.Step(20 * time.Second) // 35 s old
	_, err := p.GetStatsSummary(context.Background())
	if code := StatusCode(err); code != http.StatusServiceUnavailable {
		t.Errorf("lower cluster down, value older than StatsMaxAge: %v (status %d), want 503", err, code)
	}
}

// TestStatsRefreshedInBackground: Run refreshes a cache that is read without waiting for
// a read, and stops refreshing one nobody has read for statsDemandWindow.
func TestStatsRefreshedInBackground(t *testing.T) {
	lower, ownedPods := statsBed(t)
	fc := testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	p := cachedProxy(t, lower, Config{Clock: fc, StatsRefreshInterval: 10 * time.Second, StatsMaxAge: 30 * time.Second}, ownedPods...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	eventually.True(t, 10*time.Second, "Run's tickers", func() bool { return fc.Waiters() == 2 })
	scrapes := func() int { return len(lower.recorded("/proxy/stats/summary")) }

	nodeCPU(t, p)
	fc.Step(10 * time.Second)
	eventually.True(t, 10*time.Second, "a background refresh", func() bool { return scrapes() == 6 })
	if n := len(lower.recorded("/metrics/resource")); n != 0 {
		t.Errorf("%d resource metrics scrapes, want none: nobody read them", n)
	}

	for range statsDemandWindow/(10*time.Second) + 2 {
		fc.Step(10 * time.Second)
	}
	time.Sleep(200 * time.Millisecond) // let a wrong refresh reach the fake
	before := scrapes()
	fc.Step(10 * time.Second)
	time.Sleep(200 * time.Millisecond)
	if n := scrapes(); n != before {
		t.Errorf("%d node scrapes after %s unread, want none", n-before, statsDemandWindow)
	}
}

// TestStatsConcurrencyBounded: concurrent scrapes of stats and metrics on a cold cache
// ask each lower node once per kind, with at most StatsConcurrency requests in flight
// for both kinds together.
func TestStatsConcurrencyBounded(t *testing.T) {
	const nodes, limit = 40, 3
	lower, ownedPods := scaleBed(t, nodes, 3)
	lower.proxyDelay = func(string) time.Duration { return 20 * time.Millisecond }
	p := cachedProxy(t, lower, Config{StatsConcurrency: limit}, ownedPods...)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 10 {
		wg.Add(2)
		go func() { defer wg.Done(); _, err := p.GetStatsSummary(context.Background()); errs <- err }()
		go func() { defer wg.Done(); _, err := p.GetMetricsResource(context.Background()); errs <- err }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	lower.mu.Lock()
	maxInFlight := lower.proxyMaxInFlight
	lower.mu.Unlock()
	if maxInFlight > limit || maxInFlight < 2 {
		t.Errorf("%d node requests in flight at most, want between 2 and StatsConcurrency (%d)", maxInFlight, limit)
	}
	if s, m := len(lower.recorded("/stats/summary")), len(lower.recorded("/metrics/resource")); s != nodes || m != nodes {
		t.Errorf("%d summary and %d metrics requests, want %d of each: one refresh for all scrapes", s, m, nodes)
	}
}

// TestStatsScrape1000LowerNodes: with the caches kept fresh by Run, a scrape of a
// virtual node over 1,000 lower nodes that answer in 5-20 ms answers in under a second
// (scrapeBound: more under the race detector) and asks no lower node anything.
func TestStatsScrape1000LowerNodes(t *testing.T) {
	lower, _, p := scaleProxy(t)
	srv := newTestHandler(t, p, allowAll(t))
	for _, path := range []string{"/stats/summary", "/metrics/resource"} {
		if code, body := get(t, srv.URL+path); code != http.StatusOK { // warms the cache
			t.Fatalf("%s: status %d: %.200s", path, code, body)
		}
		before := len(lower.recorded("/proxy" + path))
		start := time.Now()
		code, body := get(t, srv.URL+path)
		took := time.Since(start)
		if code != http.StatusOK || took >= scrapeBound {
			t.Errorf("%s: status %d in %s, want 200 in under %s", path, code, took, scrapeBound)
		}
		if n := len(lower.recorded("/proxy"+path)) - before; n != 0 {
			t.Errorf("%s: the scrape asked %d lower nodes, want none", path, n)
		}
		if !strings.Contains(body, "p-n999") {
			t.Errorf("%s: the owned pod on the last node is missing", path)
		}
	}
}

// scaleProxy is a running Proxy of scaleBed's 1,000 nodes of 20 pods. Its timing is
// generous enough that the cache stays fresh however slowly a loaded machine warms it:
// its users measure scrapes, not refreshes.
func scaleProxy(tb testing.TB) (*fakeLower, []OwnedPod, *Proxy) {
	tb.Helper()
	lower, ownedPods := scaleBed(tb, 1000, 20)
	p := cachedProxy(tb, lower, Config{StatsRefreshInterval: time.Minute, StatsMaxAge: 5 * time.Minute}, ownedPods...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	tb.Cleanup(func() { cancel(); <-done })
	return lower, ownedPods, p
}

// scaleBed is a fake lower cluster of n nodes (n0, n1, ...) whose kubelets answer in
// 5-20 ms (fixed per node), each running podsPerNode pods of which the first, p-<node>,
// is owned. It returns the owned pods.
func scaleBed(tb testing.TB, n, podsPerNode int) (*fakeLower, []OwnedPod) {
	tb.Helper()
	lower := newFakeLower(tb)
	lower.proxyDelay = func(node string) time.Duration {
		h := fnv.New32a()
		_, _ = h.Write([]byte(node))
		return time.Duration(5+h.Sum32()%16) * time.Millisecond
	}
	var ownedPods []OwnedPod
	for i := range n {
		node := fmt.Sprintf("n%d", i)
		lower.nodes = append(lower.nodes, node)
		summary := statsv1alpha1.Summary{Node: statsv1alpha1.NodeStats{
			NodeName: node, CPU: &statsv1alpha1.CPUStats{UsageNanoCores: ptr.To[uint64](1000)},
			Memory: &statsv1alpha1.MemoryStats{WorkingSetBytes: ptr.To[uint64](1 << 30)},
		}}
		var metrics strings.Builder
		metrics.WriteString("# TYPE node_cpu_usage_seconds_total counter\nnode_cpu_usage_seconds_total 10 1000\n")
		metrics.WriteString("# TYPE container_cpu_usage_seconds_total counter\n")
		for j := range podsPerNode {
			pod := fmt.Sprintf("p%d-%s", j, node)
			if j == 0 {
				pod = "p-" + node
				ownedPods = append(ownedPods, owned(pod, node))
			}
			summary.Pods = append(summary.Pods, statsv1alpha1.PodStats{
				PodRef: statsv1alpha1.PodReference{Namespace: "lower-ns", Name: "lower-" + pod, UID: "uid-lower-" + pod},
				CPU:    &statsv1alpha1.CPUStats{UsageNanoCores: ptr.To[uint64](7)},
				Memory: &statsv1alpha1.MemoryStats{WorkingSetBytes: ptr.To[uint64](1 << 20)},
				Containers: []statsv1alpha1.ContainerStats{{Name: "c1",
					CPU: &statsv1alpha1.CPUStats{UsageNanoCores: ptr.To[uint64](7)}}},
			})
			fmt.Fprintf(&metrics, "container_cpu_usage_seconds_total{container=\"c1\",namespace=\"lower-ns\",pod=\"lower-%s\"} 1.5 1000\n", pod)
		}
		b, err := json.Marshal(summary)
		if err != nil {
			tb.Fatal(err)
		}
		lower.proxied[node+"/stats/summary"] = string(b)
		lower.proxied[node+"/metrics/resource"] = metrics.String()
	}
	return lower, ownedPods
}
