package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tensile-kube/tensile/internal/chartrender"
)

// TestChartServerDryRun renders charts/tensile with Helm's Go library, as `helm
// template` would, and applies every object to the test bed with a server-side dry
// run: the API servers validate each one (schemas, RBAC role references, the webhook
// registration, CRD-backed objects) without keeping any. Several value sets cover the
// chart's branches; the lower cluster gets the cluster=lower rendering.
func TestChartServerDryRun(t *testing.T) {
	chart := filepath.Join(repoRoot, "charts", "tensile")
	upperNS := createNamespace(t, upper, "chart")
	lowerNS := createNamespace(t, lowerA, "chart")
	for _, tc := range []struct {
		name    string
		cluster *Cluster
		ns      string
		opts    chartrender.Options
	}{
		{name: "defaults", cluster: upper, ns: upperNS},
		{name: "two virtual nodes and a descheduler Deployment", cluster: upper, ns: upperNS, opts: chartrender.Options{
			Set: []string{"descheduler.mode=deployment", "webhook.replicas=2", "image.registry=registry.example/tensile", "image.tag=v9.9.9"},
			Values: map[string]any{"virtualNodes": []any{
				map[string]any{"name": "vk-chart-a"},
				map[string]any{"name": "vk-chart-b", "kubeconfigSecret": map[string]any{"name": "lower-b", "key": "config"},
					"lowerNamespace": "{namespace}-{cluster}", "upperClusterID": "e2e"},
			}},
		}},
		{name: "webhook certificate from the webhook itself", cluster: upper, ns: upperNS, opts: chartrender.Options{
			ValuesFiles: []string{filepath.Join(chart, "ci", "manifests-values.yaml")},
		}},
		{name: "lower cluster", cluster: lowerA, ns: lowerNS, opts: chartrender.Options{Set: []string{"cluster=lower"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Namespace = tc.ns
			r, err := chartrender.Render(chart, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			stream := r.Manifest(true)
			docs := chartrender.SplitDocuments(stream)
			path := filepath.Join(testbed, "chart-"+strings.ReplaceAll(tc.name, " ", "-")+".yaml")
			noErr(t, os.WriteFile(path, []byte(stream), 0o644))
			t.Cleanup(func() { _ = os.Remove(path) })
			// --force-conflicts: other tests may have applied the same cluster-scoped
			// objects (ClusterRoles, CRDs) with another field manager; nothing is kept.
			out, err := kubectl(t, tc.cluster, "apply", "--server-side", "--dry-run=server", "--force-conflicts",
				"--field-manager=tensile-chart-e2e", "-f", path)
			if err != nil {
				t.Fatalf("kubectl apply --server-side --dry-run=server: %v\n%s", err, out)
			}
			if n := strings.Count(out, "(server dry run)"); n != len(docs) {
				t.Fatalf("%d of %d objects validated:\n%s", n, len(docs), out)
			}
			t.Logf("%d objects validated by %s", len(docs), tc.cluster.Name)
		})
	}

	// The dry run is a real check: a value the schema lets through but the API server
	// refuses (a malformed quantity) fails it.
	t.Run("an object the API server refuses fails", func(t *testing.T) {
		r, err := chartrender.Render(chart, chartrender.Options{Namespace: upperNS, Set: []string{"multiScheduler.resources.requests.cpu=lots"}})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(testbed, "chart-refused.yaml")
		noErr(t, os.WriteFile(path, []byte(r.Manifest(false)), 0o644))
		t.Cleanup(func() { _ = os.Remove(path) })
		out, err := kubectl(t, upper, "apply", "--server-side", "--dry-run=server", "--force-conflicts",
			"--field-manager=tensile-chart-e2e", "-f", path)
		if err == nil || !strings.Contains(out, "multi-scheduler") || !strings.Contains(out, "quantities must match") {
			t.Fatalf("a cpu request of \"lots\" was accepted (err %v):\n%s", err, out)
		}
	})
}
