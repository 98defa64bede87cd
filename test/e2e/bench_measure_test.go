package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// requestKey is one series of the API server's apiserver_request_total, summed over the
// labels the benchmark does not report (group, version, scope, component, dry_run).
type requestKey struct{ verb, resource, subresource, code string }

// requestCounts is a snapshot (or a difference of two) of apiserver_request_total. The
// key {verb: terminatedWatchers} holds apiserver_terminated_watchers_total for pods:
// watches the API server closed because their client did not keep up (the client then
// re-lists, and sees no event meanwhile).
type requestCounts map[requestKey]float64

const terminatedWatchers = "TERMINATED_WATCHERS"

// scrapeRequests reads apiserver_request_total from the cluster's API server /metrics
// with the test bed's admin credentials.
func scrapeRequests(t testing.TB, c *Cluster) requestCounts {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	raw := try(c.Client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)).must(t)
	counts, err := parseRequests(raw)
	if err != nil {
		t.Fatalf("%s /metrics: %v", c.Name, err)
	}
	return counts
}

// parseRequests extracts apiserver_request_total from a Prometheus text exposition.
func parseRequests(raw []byte) (requestCounts, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	fam, ok := fams["apiserver_request_total"]
	if !ok {
		return nil, fmt.Errorf("no apiserver_request_total")
	}
	out := requestCounts{}
	for _, m := range fam.GetMetric() {
		var k requestKey
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "verb":
				k.verb = l.GetValue()
			case "resource":
				k.resource = l.GetValue()
			case "subresource":
				k.subresource = l.GetValue()
			case "code":
				k.code = l.GetValue()
			}
		}
		out[k] += m.GetCounter().GetValue()
	}
	for _, m := range fams["apiserver_terminated_watchers_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "resource" && l.GetValue() == "pods" {
				out[requestKey{verb: terminatedWatchers}] += m.GetCounter().GetValue()
			}
		}
	}
	return out, nil
}

// since returns the requests counted between before and r.
func (r requestCounts) since(before requestCounts) requestCounts {
	out := requestCounts{}
	for k, v := range r {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

// writeVerbs are the verbs of apiserver_request_total that change state.
var writeVerbs = map[string]bool{"POST": true, "PUT": true, "PATCH": true, "APPLY": true, "DELETE": true, "DELETECOLLECTION": true}

// writes counts the write requests on resource/subresource ("*" for any resource or
// subresource); code "" counts every code.
func (r requestCounts) writes(resource, subresource, code string) float64 {
	var n float64
	for k, v := range r {
		if writeVerbs[k.verb] && (resource == "*" || k.resource == resource) &&
			(subresource == "*" || k.subresource == subresource) && (code == "" || k.code == code) {
			n += v
		}
	}
	return n
}

// writeCounts is what a benchmark round reports of the upper API server's writes.
type writeCounts struct {
	podStatus, podStatus409, events, nodeStatus, leases, conflicts, all float64
	terminatedWatchers                                                  float64
}

func (r requestCounts) summary() writeCounts {
	return writeCounts{
		podStatus:          r.writes("pods", "status", ""),
		podStatus409:       r.writes("pods", "status", "409"),
		events:             r.writes("events", "*", ""),
		nodeStatus:         r.writes("nodes", "status", ""),
		leases:             r.writes("leases", "*", ""),
		conflicts:          r.writes("*", "*", "409"),
		all:                r.writes("*", "*", ""),
		terminatedWatchers: r[requestKey{verb: terminatedWatchers}],
	}
}

// procCPU returns the user+system CPU time of a process, from /proc.
func procCPU(t testing.TB, pid int) time.Duration {
	t.Helper()
	raw := string(try(os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))).must(t))
	// Fields after the command name (which may contain spaces) start at state (3).
	f := strings.Fields(raw[strings.LastIndexByte(raw, ')')+2:])
	utime := try(strconv.ParseInt(f[13-2], 10, 64)).must(t)
	stime := try(strconv.ParseInt(f[14-2], 10, 64)).must(t)
	return time.Duration(utime+stime) * time.Second / time.Duration(clockTicks())
}

// clockTicks is the kernel's clock ticks per second (CLK_TCK), the unit of /proc/<pid>/stat times.
var clockTicks = sync.OnceValue(func() int64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if n, perr := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && perr == nil && n > 0 {
		return n
	}
	return 100
})

// procPeakRSS returns a process's peak resident set size in KiB.
func procPeakRSS(t testing.TB, pid int) int { return procStatusKiB(t, pid, "VmHWM:") }

// procRSS returns a process's resident set size in KiB.
func procRSS(t testing.TB, pid int) int { return procStatusKiB(t, pid, "VmRSS:") }

func procStatusKiB(t testing.TB, pid int, field string) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field) {
			kb, _ := strconv.Atoi(strings.Fields(l)[1])
			return kb
		}
	}
	return 0
}
