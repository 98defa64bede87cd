package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// componentConfig matches files that configure a binary (read with --config or
// --policy-config-file) rather than API objects to apply.
var componentConfig = regexp.MustCompile(`(?m)^kind: (DeschedulerPolicy|KubeSchedulerConfiguration)$`)

// TestManifests validates everything an admin applies against real API servers with a
// server-side dry run: schemas, RBAC rules, webhook registrations, CRD-backed objects.
func TestManifests(t *testing.T) {
	dir := filepath.Join(repoRoot, "manifests")
	for _, c := range []struct {
		cluster *Cluster
		globs   []string
	}{
		{upper, []string{"crds/*.yaml", "virtual-node/rbac-upper.yaml", "virtual-node/deployment.yaml", "multi-scheduler/*.yaml", "webhook/*.yaml", "descheduler/*.yaml"}},
		{lowerA, []string{"virtual-node/rbac-lower.yaml"}},
	} {
		var files []string
		for _, g := range c.globs {
			m, err := filepath.Glob(filepath.Join(dir, g))
			if err != nil || len(m) == 0 {
				t.Fatalf("no manifests match %s", g)
			}
			files = append(files, m...)
		}
		sort.Strings(files)
		for _, f := range files {
			rel, _ := filepath.Rel(dir, f)
			t.Run(c.cluster.Name+"/"+rel, func(t *testing.T) {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if componentConfig.Match(b) && !strings.Contains(string(b), "kind: ConfigMap") {
					return // a binary's config file; its own unit tests decode it
				}
				out, err := kubectl(t, c.cluster, "apply", "--dry-run=server", "-f", f)
				if err != nil {
					t.Fatalf("kubectl apply --dry-run=server -f %s: %v\n%s", rel, err, out)
				}
				if !strings.Contains(out, "(server dry run)") {
					t.Fatalf("no object was validated:\n%s", out)
				}
			})
		}
	}
}
