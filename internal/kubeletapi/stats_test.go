package kubeletapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	"k8s.io/utils/ptr"
)

// statsBed is a fake lower cluster of nodes n1, n2 and n3 with owned pods p1 on n1 and
// p3 on n3; n3 serves no stats and no metrics, as a KWOK node.
func statsBed(t *testing.T) (*fakeLower, []OwnedPod) {
	t.Helper()
	lower := newFakeLower(t)
	lower.nodes = []string{"n1", "n2", "n3"}
	p1, p3 := owned("p1", "n1"), owned("p3", "n3")
	summary := func(node string, cpu uint64, pods ...statsv1alpha1.PodStats) string {
		b, err := json.Marshal(statsv1alpha1.Summary{
			Node: statsv1alpha1.NodeStats{NodeName: node, CPU: &statsv1alpha1.CPUStats{UsageNanoCores: ptr.To(cpu)}},
			Pods: pods,
		})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	lower.proxied["n1/stats/summary"] = summary("n1", 100, statsv1alpha1.PodStats{
		PodRef: statsv1alpha1.PodReference{Namespace: "lower-ns", Name: "lower-p1", UID: string(p1.Lower.UID)},
		CPU:    &statsv1alpha1.CPUStats{UsageNanoCores: ptr.To[uint64](7)},
	})
	lower.proxied["n2/stats/summary"] = summary("n2", 200)
	lower.proxied["n1/metrics/resource"] = n1Metrics
	lower.proxied["n2/metrics/resource"] = n2Metrics
	return lower, []OwnedPod{p1, p3}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestStatsSummaryFromLowerNodes(t *testing.T) {
	lower, ownedPods := statsBed(t)
	srv := newTestHandler(t, newTestProxy(t, lower, ownedPods...), allowAll(t))
	code, body := get(t, srv.URL+"/stats/summary")
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	var got statsv1alpha1.Summary
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	want := statsv1alpha1.Summary{
		Node: statsv1alpha1.NodeStats{NodeName: "vnode", CPU: &statsv1alpha1.CPUStats{UsageNanoCores: ptr.To[uint64](300)}},
		Pods: []statsv1alpha1.PodStats{
			{PodRef: upperRef(ownedPods[0]), CPU: &statsv1alpha1.CPUStats{UsageNanoCores: ptr.To[uint64](7)}},
			{PodRef: upperRef(ownedPods[1]), Containers: []statsv1alpha1.ContainerStats{{Name: "c1"}}},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("/stats/summary (-want +got):\n%s", diff)
	}
	if n := len(lower.recorded("/proxy/stats/summary")); n != 3 {
		t.Errorf("scraped %d lower nodes, want 3", n)
	}
}

func TestMetricsResourceFromLowerNodes(t *testing.T) {
	lower, _ := statsBed(t)
	srv := newTestHandler(t, newTestProxy(t, lower, owned("p1", "n1"), owned("p2", "n2")), allowAll(t))
	code, body := get(t, srv.URL+"/metrics/resource")
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	// n3 serves no metrics, so scrape_error is set; everything else is as merged.
	want := strings.Replace(mergedMetrics, "scrape_error 0", "scrape_error 1", 1)
	if diff := cmp.Diff(want, body); diff != "" {
		t.Errorf("/metrics/resource (-want +got):\n%s", diff)
	}
}

func TestMetricsResourceFromKWOKPath(t *testing.T) {
	lower, _ := statsBed(t)
	lower.proxied = map[string]string{"n1/metrics/nodes/n1/metrics/resource": n1Metrics}
	p, err := NewProxy(Config{
		NodeName:          "vnode",
		LowerConfig:       lower.config(),
		OwnedPods:         func(context.Context) ([]OwnedPod, error) { return []OwnedPod{owned("p1", "n1")}, nil },
		LowerMetricsPath:  KWOKMetricsPath,
		LowerNodeSelector: nil,
	})
	if err != nil {
		t.Fatal(err)
	}
	fams, err := p.GetMetricsResource(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := encodeMetrics(t, fams); !strings.Contains(got, `container_cpu_usage_seconds_total{container="c1",namespace="ns",pod="p1"} 1.5 1000`) {
		t.Errorf("metrics from KWOK's path missing:\n%s", got)
	}
}

// TestStatsLowerUnreachable: with the lower API server down, stats and metrics answer
// 503, not virtual-kubelet's 500.
func TestStatsLowerUnreachable(t *testing.T) {
	lower, ownedPods := statsBed(t)
	srv := newTestHandler(t, newTestProxy(t, lower, ownedPods...), allowAll(t))
	lower.server.Close()
	for _, path := range []string{"/stats/summary", "/metrics/resource", "/containerLogs/ns/p1/c1", "/exec/ns/p1/c1?command=true&output=1"} {
		if code, body := get(t, srv.URL+path); code != http.StatusServiceUnavailable {
			t.Errorf("%s: status %d (%s), want 503", path, code, body)
		}
	}
}
