package kubeletapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// GetStatsSummary returns the virtual node's /stats/summary: the owned pods' stats as
// their lower kubelets report them through the lower API server's node proxy, under
// their upper names, and the selected lower nodes' stats summed as the node's. Pods on
// lower nodes that serve no stats are listed without usage. The lower nodes' stats come
// from a cache (see Run); the owned pods are those of the moment.
func (p *Proxy) GetStatsSummary(ctx context.Context) (*statsv1alpha1.Summary, error) {
	s, err := p.summaries.get(ctx)
	if err != nil {
		return nil, err
	}
	owned, err := p.cfg.OwnedPods(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing owned pods: %w", err)
	}
	return buildSummary(p.cfg.NodeName, s.selected, owned, s.summaries), nil
}

// summaryScrape is one scrape of the lower nodes' summaries: the selected nodes and,
// by node, the summaries that answered, reduced to what the virtual node reports.
type summaryScrape struct {
	selected  []string
	summaries map[string]*statsv1alpha1.Summary
}

// collectSummaries scrapes /stats/summary from every selected lower node and every node
// of an owned pod. It keeps of each summary the node's stats and the owned pods' stats:
// a lower node may run hundreds of pods that are not this virtual node's.
func (p *Proxy) collectSummaries(ctx context.Context) (summaryScrape, error) {
	owned, selected, err := p.scrapeScope(ctx)
	if err != nil {
		return summaryScrape{}, err
	}
	raw, failed := p.scrape(ctx, scrapeNodes(selected, owned), func(string) string { return "/stats/summary" }, "application/json")
	keep := make(map[podKey]bool, len(owned))
	for _, op := range owned {
		if op.Lower != nil {
			keep[podKey{op.Lower.Namespace, op.Lower.Name, string(op.Lower.UID)}] = true
		}
	}
	summaries := make(map[string]*statsv1alpha1.Summary, len(raw))
	for node, body := range raw {
		s := &statsv1alpha1.Summary{}
		if err := json.Unmarshal(body, s); err != nil {
			failed[node] = fmt.Errorf("decoding stats summary: %w", err)
			continue
		}
		summaries[node] = keepPods(s, keep)
	}
	p.reportScrapeFailures(ctx, &p.noStatsOnce, "/stats/summary", failed)
	return summaryScrape{selected: selected, summaries: summaries}, nil
}

// GetMetricsResource returns the virtual node's /metrics/resource, which metrics-server
// (and so HPA and kubectl top) reads: the owned pods' container_* and pod_* series as
// their lower kubelets report them, relabelled with upper names, and the node_* series
// of the selected lower nodes summed. Pods on lower nodes that serve no metrics have no
// series rather than zero ones. The lower nodes' metrics come from a cache (see Run);
// the owned pods are those of the moment.
func (p *Proxy) GetMetricsResource(ctx context.Context) ([]*dto.MetricFamily, error) {
	s, err := p.resourceMetrics.get(ctx)
	if err != nil {
		return nil, err
	}
	owned, err := p.cfg.OwnedPods(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing owned pods: %w", err)
	}
	return mergeResourceMetrics(s.selected, owned, s.perNode, s.failed), nil
}

// metricsScrape is one scrape of the lower nodes' resource metrics: the selected nodes,
// by node the families that answered, reduced to what the virtual node reports, and
// whether some node failed.
type metricsScrape struct {
	selected []string
	perNode  map[string]map[string]*dto.MetricFamily
	failed   bool
}

// collectMetrics scrapes the resource metrics of every selected lower node and every
// node of an owned pod, keeping the node_* series and the owned pods' series.
func (p *Proxy) collectMetrics(ctx context.Context) (metricsScrape, error) {
	owned, selected, err := p.scrapeScope(ctx)
	if err != nil {
		return metricsScrape{}, err
	}
	raw, failed := p.scrape(ctx, scrapeNodes(selected, owned), p.cfg.LowerMetricsPath, "text/plain;version=0.0.4")
	keep := make(map[[2]string]bool, len(owned))
	for _, op := range owned {
		if op.Lower != nil {
			keep[[2]string{op.Lower.Namespace, op.Lower.Name}] = true
		}
	}
	perNode := make(map[string]map[string]*dto.MetricFamily, len(raw))
	for node, body := range raw {
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
		if err != nil {
			failed[node] = fmt.Errorf("parsing resource metrics: %w", err)
			continue
		}
		perNode[node] = keepSeries(fams, keep)
	}
	p.reportScrapeFailures(ctx, &p.noMetricsOnce, "resource metrics", failed)
	return metricsScrape{selected: selected, perNode: perNode, failed: len(failed) > 0}, nil
}

// scrapeScope returns the owned pods and the selected lower nodes.
func (p *Proxy) scrapeScope(ctx context.Context) ([]OwnedPod, []string, error) {
	owned, err := p.cfg.OwnedPods(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("listing owned pods: %w", err)
	}
	list, err := p.lower.CoreV1().Nodes().List(ctx, metav1.ListOptions{
		LabelSelector: p.cfg.LowerNodeSelector.String(),
		// Served from the API server's cache: a scrape needs names, not a quorum read.
		ResourceVersion: "0",
	})
	if err != nil {
		return nil, nil, lowerError(err, "listing lower nodes")
	}
	selected := make([]string, 0, len(list.Items))
	for _, n := range list.Items {
		selected = append(selected, n.Name)
	}
	return owned, selected, nil
}

// scrape GETs path(node) from every node's kubelet through the lower API server's node
// proxy, each within StatsTimeout, with at most StatsConcurrency requests in flight for
// all scrapes of the Proxy together. It returns the bodies of the nodes that answered
// and the errors of those that did not, including those not asked before ctx ended.
func (p *Proxy) scrape(ctx context.Context, nodes []string, path func(node string) string, accept string) (map[string][]byte, map[string]error) {
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		bodies = map[string][]byte{}
		failed = map[string]error{}
		slots  = p.statsSlots
	)
	for _, node := range nodes {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			mu.Lock()
			failed[node] = ctx.Err()
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			ctx, cancel := context.WithTimeout(ctx, p.cfg.StatsTimeout)
			defer cancel()
			body, err := p.rest.Get().Resource("nodes").Name(node).SubResource("proxy").
				Suffix(strings.TrimPrefix(path(node), "/")).SetHeader("Accept", accept).DoRaw(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed[node] = err
				return
			}
			bodies[node] = body
		}()
	}
	wg.Wait()
	return bodies, failed
}

// reportScrapeFailures logs lower nodes that served no stats. Fake nodes never do, so the
// first time is said at info level and every later time only at high verbosity.
func (p *Proxy) reportScrapeFailures(ctx context.Context, once *sync.Once, what string, failed map[string]error) {
	if len(failed) == 0 {
		return
	}
	nodes := sortedKeys(failed)
	logger := klog.FromContext(ctx)
	first := false
	once.Do(func() {
		first = true
		logger.Info("Lower nodes serve no "+what+"; their pods are reported without usage (further failures are logged at V(4))",
			"nodes", nodes, "err", failed[nodes[0]])
	})
	if !first {
		logger.V(4).Info("Lower nodes served no "+what, "nodes", nodes, "err", failed[nodes[0]])
	}
}
