package kubeletapi

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// BenchmarkStatsScrape1000LowerNodes compares one /stats/summary and one
// /metrics/resource scrape of a virtual node over 1,000 lower nodes whose kubelets
// answer in 5-20 ms (20 pods each, one owned) before and after the cache: "fanout" asks
// every lower node per scrape, as every scrape did before; "cached" is a scrape while
// Run keeps the cache fresh. Both build and encode the full answer
// (JSON, Prometheus text). It reports the
// milliseconds of each per scrape and their ratio, fanout/cached.
//
//	go test ./pkg/kubeletapi -run '^$' -bench StatsScrape1000 -benchtime 3x
func BenchmarkStatsScrape1000LowerNodes(b *testing.B) {
	_, ownedPods, p := scaleProxy(b)
	ctx := context.Background()
	fanout := func() {
		s, err := p.collectSummaries(ctx)
		must(b, err)
		encode(b, buildSummary(p.cfg.NodeName, s.selected, ownedPods, s.summaries))
		m, err := p.collectMetrics(ctx)
		must(b, err)
		encodeMetrics(b, mergeResourceMetrics(m.selected, ownedPods, m.perNode, m.failed))
	}
	cached := func() {
		s, err := p.GetStatsSummary(ctx)
		must(b, err)
		encode(b, s)
		m, err := p.GetMetricsResource(ctx)
		must(b, err)
		encodeMetrics(b, m)
	}
	cached() // warms the cache
	var fanoutTime, cachedTime time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		fanout()
		fanoutTime += time.Since(start)
		start = time.Now()
		cached()
		cachedTime += time.Since(start)
	}
	b.ReportMetric(float64(fanoutTime.Milliseconds())/float64(b.N), "fanout-ms/scrape")
	b.ReportMetric(float64(cachedTime.Microseconds())/1000/float64(b.N), "cached-ms/scrape")
	b.ReportMetric(float64(fanoutTime)/float64(cachedTime), "fanout/cached")
}

// must stops the benchmark on err.
func must(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}

// encode encodes a summary as the handler does.
func encode(b *testing.B, v any) {
	b.Helper()
	if _, err := json.Marshal(v); err != nil {
		b.Fatal(err)
	}
}
