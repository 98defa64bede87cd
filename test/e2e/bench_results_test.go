package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMakeBenchReport: hack/bench-report.sh, the last step of make bench, puts the
// targets of the Go benchmarks, hack/bench.sh and hack/bench-scheduler.sh into one
// table, and shows a part that saved nothing as not met.
func TestMakeBenchReport(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	report := func() string {
		t.Helper()
		cmd := exec.Command(filepath.Join(repoRoot, "hack", "bench-report.sh"))
		cmd.Env = append(os.Environ(), "BENCH_RESULTS="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("bench-report.sh: %v\n%s", err, out)
		}
		return string(out)
	}
	want := func(out string, lines ...string) {
		t.Helper()
		for _, l := range lines {
			if !strings.Contains(out, l+"\n") {
				t.Errorf("report lacks %q:\n%s", l, out)
			}
		}
	}

	want(report(),
		"| stats (Go benchmark) | (no result: "+dir+"/go-bench.txt lacks BenchmarkStatsScrape1000LowerNodes) | - | - | **no** |",
		"| virtual node (hack/bench.sh) | (no result: "+dir+"/bench-sync.md missing) | - | - | **no** |",
		"| scheduler (hack/bench-scheduler.sh) | (no result: "+dir+"/bench-scheduler.md missing) | - | - | **no** |")

	write("go-bench.txt", "goos: linux\nBenchmarkStatsScrape1000LowerNodes-2   \t       3\t 812345678 ns/op\t       780.0 fanout-ms/scrape\t        74.52 cached-ms/scrape\t        10.47 fanout/cached\nPASS\n")
	write("bench-sync.md", "| round | path |\n|---|---|\n| 1 | direct in lower-a |\n\n"+
		"| target | measured | goal | met |\n|---|---:|---|---|\n| sync ratio through / direct (median of the rounds' ratios) | 2.20 | <= 1.8 | **no** |\n"+
		"| pod-status 409s, all through rounds | 0.00 | 0 | yes |\n\nForeign pods: 10000 created and Running in 125 s.\n")
	write("bench-scheduler.md", "1000 pods, 100 virtual nodes x 1000 lower nodes, 1 rounds (medians)\n"+
		"| target (median of the rounds' ratios multi/plain) | measured | goal | met |\n|---|---:|---|---|\n"+
		"| stream pods/s | 1.14 | >= 0.95 | yes |\n")
	out := report()
	want(out,
		"| part | target | measured | goal | met |",
		"| stats (Go benchmark) | /stats/summary + /metrics/resource scrape, 1,000 lower nodes (ms) | 74.52 | < 1000 | yes |",
		"| virtual node (hack/bench.sh) | sync ratio through / direct (median of the rounds' ratios) | 2.20 | <= 1.8 | **no** |",
		"| virtual node (hack/bench.sh) | pod-status 409s, all through rounds | 0.00 | 0 | yes |",
		"| scheduler (hack/bench-scheduler.sh) | stream pods/s | 1.14 | >= 0.95 | yes |")
	if n := strings.Count(out, "\n"); n != 6 {
		t.Errorf("report has %d lines, want 6 (header, separator, 4 rows):\n%s", n, out)
	}
}
