package kubeletapi

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Canned /metrics/resource of two lower kubelets. lower-p1 and lower-p2 are owned, the
// pod in namespace other is not; n2's node series must be summed with n1's.
const (
	n1Metrics = `# HELP node_cpu_usage_seconds_total Cumulative cpu time consumed by the node in core-seconds
# TYPE node_cpu_usage_seconds_total counter
node_cpu_usage_seconds_total 10 1000
# HELP node_memory_working_set_bytes Current working set of the node in bytes
# TYPE node_memory_working_set_bytes gauge
node_memory_working_set_bytes 100 1000
# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed by the container in core-seconds
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{container="c1",namespace="lower-ns",pod="lower-p1"} 1.5 1000
container_cpu_usage_seconds_total{container="c1",namespace="other",pod="foreign"} 9 1000
# HELP pod_memory_working_set_bytes Current working set of the pod in bytes
# TYPE pod_memory_working_set_bytes gauge
pod_memory_working_set_bytes{namespace="lower-ns",pod="lower-p1"} 2048 1000
# HELP scrape_error 1 if there was an error while getting container metrics, 0 otherwise
# TYPE scrape_error gauge
scrape_error 0
`
	n2Metrics = `# HELP node_cpu_usage_seconds_total Cumulative cpu time consumed by the node in core-seconds
# TYPE node_cpu_usage_seconds_total counter
node_cpu_usage_seconds_total 5 2000
# HELP node_memory_working_set_bytes Current working set of the node in bytes
# TYPE node_memory_working_set_bytes gauge
node_memory_working_set_bytes 50 2000
# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed by the container in core-seconds
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{container="c1",namespace="lower-ns",pod="lower-p2"} 0.5 2000
`
)

// mergedMetrics is what the virtual node serves from n1Metrics and n2Metrics.
const mergedMetrics = `# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed by the container in core-seconds
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{container="c1",namespace="ns",pod="p1"} 1.5 1000
container_cpu_usage_seconds_total{container="c1",namespace="ns",pod="p2"} 0.5 2000
# HELP node_cpu_usage_seconds_total Cumulative cpu time consumed by the node in core-seconds
# TYPE node_cpu_usage_seconds_total counter
node_cpu_usage_seconds_total 15 2000
# HELP node_memory_working_set_bytes Current working set of the node in bytes
# TYPE node_memory_working_set_bytes gauge
node_memory_working_set_bytes 150 2000
# HELP pod_memory_working_set_bytes Current working set of the pod in bytes
# TYPE pod_memory_working_set_bytes gauge
pod_memory_working_set_bytes{namespace="ns",pod="p1"} 2048 1000
# HELP scrape_error 1 if there was an error while getting container metrics, 0 otherwise
# TYPE scrape_error gauge
scrape_error 0
`

func parseMetrics(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

func encodeMetrics(t testing.TB, fams []*dto.MetricFamily) string {
	t.Helper()
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range fams {
		if err := enc.Encode(f); err != nil {
			t.Fatal(err)
		}
	}
	return buf.String()
}

func TestMergeResourceMetrics(t *testing.T) {
	ownedPods := []OwnedPod{owned("p1", "n1"), owned("p2", "n2")}
	tests := []struct {
		name     string
		selected []string
		perNode  map[string]string
		failed   bool
		want     string
	}{
		{name: "two nodes", selected: []string{"n1", "n2"}, perNode: map[string]string{"n1": n1Metrics, "n2": n2Metrics}, want: mergedMetrics},
		{
			name: "a node without metrics", selected: []string{"n1", "n2"}, perNode: map[string]string{"n2": n2Metrics}, failed: true,
			want: `# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed by the container in core-seconds
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{container="c1",namespace="ns",pod="p2"} 0.5 2000
# HELP node_cpu_usage_seconds_total Cumulative cpu time consumed by the node in core-seconds
# TYPE node_cpu_usage_seconds_total counter
node_cpu_usage_seconds_total 5 2000
# HELP node_memory_working_set_bytes Current working set of the node in bytes
# TYPE node_memory_working_set_bytes gauge
node_memory_working_set_bytes 50 2000
# HELP scrape_error 1 if there was an error while getting container metrics, 0 otherwise
# TYPE scrape_error gauge
scrape_error 1
`,
		},
		{
			name: "pods of an unselected node", selected: []string{"n1"}, perNode: map[string]string{"n1": n1Metrics, "n2": n2Metrics},
			want: strings.NewReplacer(
				"node_cpu_usage_seconds_total 15 2000", "node_cpu_usage_seconds_total 10 1000",
				"node_memory_working_set_bytes 150 2000", "node_memory_working_set_bytes 100 1000",
			).Replace(mergedMetrics),
		},
		{
			name: "no metrics at all", perNode: nil, failed: true,
			want: "# HELP scrape_error 1 if there was an error while getting container metrics, 0 otherwise\n# TYPE scrape_error gauge\nscrape_error 1\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			perNode := map[string]map[string]*dto.MetricFamily{}
			for node, text := range tt.perNode {
				perNode[node] = parseMetrics(t, text)
			}
			got := encodeMetrics(t, mergeResourceMetrics(tt.selected, ownedPods, perNode, tt.failed))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("mergeResourceMetrics (-want +got):\n%s", diff)
			}
		})
	}
}
