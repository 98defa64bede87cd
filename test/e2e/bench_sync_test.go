package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestBenchSync compares three ways of running the same pods, alternating them in one
// run: created directly in the lower cluster, through a virtual node, and on KWOK nodes
// of the upper cluster (a kubelet's baseline for the upper API server's work). Per round
// and path it reports wall time to all Running, the cleanup's timing, CPU of every
// process of the test bed, and the upper API server's writes per pod from
// apiserver_request_total; then a memory phase with foreign lower pods (see
// benchMemory). It is a benchmark, run by `make bench` (TENSILE_BENCH=1) on a test bed
// whose lower nodes have room for the pods; it writes its figures to
// $TESTBED_DIR/bench-sync.md.
func TestBenchSync(t *testing.T) {
	if os.Getenv("TENSILE_BENCH") == "" {
		t.Skip("benchmark: run with make bench (TENSILE_BENCH=1)")
	}
	pods := envInt(t, "BENCH_PODS", 1000)
	rounds := envInt(t, "BENCH_ROUNDS", 3)
	fast := fastClients(t)
	env := &benchEnv{c: fast, vnode: "vk-bench", kwokNodes: benchKWOKNodes(t, 3, pods)}
	vn := startBenchVirtualNode(t, env.vnode)
	comps := benchComponents(t)
	var rows []benchRow
	paths := []benchPath{pathDirect, pathThrough, pathKWOK}
	for r := 1; r <= rounds; r++ {
		// Each round starts with the next path, so no path always follows the same one.
		for i := range paths {
			path := paths[(r-1+i)%len(paths)]
			var profiled sync.WaitGroup
			var afterSync func()
			profile := fmt.Sprintf("profile?seconds=%d", envInt(t, "BENCH_PPROF_SECONDS", 20))
			if r == 1 && path == pathDirect {
				// What the virtual node spends on the lower cluster's own pods.
				profiled.Go(func() { saveProfile(t, vn, profile, "cpu-direct") })
			}
			if r == 1 && path == pathThrough {
				// CPU of the first through round's burst, where virtual-node CPU per pod is
				// counted, and of its cleanup.
				profiled.Go(func() { saveProfile(t, vn, profile, "cpu") })
				afterSync = func() {
					profiled.Wait() // one CPU profile at a time
					profiled.Go(func() { saveProfile(t, vn, profile, "cpu-cleanup") })
				}
			}
			row := measureRound(t, env, path, pods, vn.Cmd.Process.Pid, comps, afterSync)
			profiled.Wait()
			row.round, row.label = strconv.Itoa(r), path.String()
			if path == pathThrough {
				// The node's own counters (status writes by step, repairs), cumulative.
				saveEndpoint(t, vn, "/metrics", fmt.Sprintf("metrics-round-%d.txt", r))
			}
			rows = append(rows, row)
			t.Logf("round %d %s: all Running in %v, cleanup %v, virtual-node CPU %.2fs", r, path, row.sync.wall, row.clean.gone, row.vnCPU)
		}
	}
	mainPeak := procPeakRSS(t, vn.Cmd.Process.Pid)
	vn.Stop(syscall.SIGTERM) // the memory phase runs its own virtual node
	mem := benchMemory(t, env, comps, pods)
	rows = append(rows, mem.rows...)
	out := benchReport(rows, comps, mainPeak, mem)
	if err := os.WriteFile(filepath.Join(testbed, "bench-sync.md"), []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out)
}

// envInt reads a positive integer knob.
func envInt(t testing.TB, key string, def int) int {
	t.Helper()
	n, err := strconv.Atoi(envOr(key, strconv.Itoa(def)))
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", key, os.Getenv(key))
	}
	return n
}

// startBenchVirtualNode starts a virtual node without client-side throttling: the
// benchmark measures it, not its rate limiters. BENCH_VNODE_ARGS adds flags, e.g.
// "--lower-namespace={namespace}-{cluster}" to measure what a namespace map costs.
func startBenchVirtualNode(t testing.TB, name string) *VirtualNode {
	return startVirtualNode(t, name, lowerA, append([]string{"--kube-api-qps", "1000", "--kube-api-burst", "2000",
		"--client-api-qps", "1000", "--client-api-burst", "2000", "--workers", "32", "--profiling"}, strings.Fields(os.Getenv("BENCH_VNODE_ARGS"))...)...)
}

// saveProfile fetches one of a virtual node's /debug/pprof profiles (--profiling) into
// the test bed's logs as <node>.<name>.pprof, for `go tool pprof bin/virtual-node <file>`.
func saveProfile(t testing.TB, vn *VirtualNode, query, name string) {
	t.Helper()
	saveEndpoint(t, vn, "/debug/pprof/"+query, name+".pprof")
}

// saveEndpoint fetches path from a virtual node's metrics address into the test bed's
// logs as <node>.<file>. A failure is reported, not fatal: the figures of the run stand
// without it.
func saveEndpoint(t testing.TB, vn *VirtualNode, path, file string) {
	t.Helper()
	out := filepath.Join(testbed, "logs", vn.Name+"."+file)
	resp, err := http.Get("http://" + vn.MetricsAddr + path)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s", resp.Status, b)
	}
	if err == nil {
		err = os.WriteFile(out, b, 0o644)
	}
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	t.Logf("%s: %s", path, out)
}

// benchKWOKLabel marks the upper cluster's KWOK nodes of the benchmark.
const benchKWOKLabel = "tensile.dev/bench-kwok"

// benchKWOKNodes creates count KWOK nodes in the upper cluster with room for pods pods
// in all, and waits until they are Ready. The test bed's upper kwok-controller manages
// only nodes annotated kwok.x-k8s.io/node=fake (hack/testbed.sh), as these are.
func benchKWOKNodes(t testing.TB, count, pods int) []string {
	t.Helper()
	names := make([]string, count)
	for i := range names {
		names[i] = fmt.Sprintf("bench-kwok-%d", i)
		createFakeNode(t, upper, names[i], map[string]string{benchKWOKLabel: "true"}, "32", pods/count+10)
	}
	for _, n := range names {
		waitNodeReady(t, n, corev1.ConditionTrue, 60*time.Second)
	}
	return names
}

// createFakeNode creates a node that the cluster's kwok-controller manages, and deletes
// it when the test ends.
func createFakeNode(t testing.TB, c *Cluster, name string, labels map[string]string, cpu string, pods int) {
	t.Helper()
	l := map[string]string{corev1.LabelHostname: name, corev1.LabelOSStable: "linux", corev1.LabelArchStable: "amd64", "type": "kwok"}
	for k, v := range labels {
		l[k] = v
	}
	alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods: *resource.NewQuantity(int64(pods), resource.DecimalSI)}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l,
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"}},
		Status: corev1.NodeStatus{Allocatable: alloc, Capacity: alloc,
			NodeInfo: corev1.NodeSystemInfo{Architecture: "amd64", OperatingSystem: "linux", KubeletVersion: "fake"}},
	}
	try(c.Client.CoreV1().Nodes().Create(context.Background(), node, metav1.CreateOptions{})).must(t)
	t.Cleanup(func() { _ = c.Client.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}) })
}

// benchRow is one round of one path.
type benchRow struct {
	round, label string
	path         benchPath
	n            int
	sync         syncResult
	clean        cleanupResult
	vnCPU        float64   // virtual node until all Running
	vnClean      float64   // virtual node during the cleanup
	comps        []float64 // each component's CPU, sync and cleanup
	apiSync      float64   // upper API server CPU until all Running
	w, wClean    writeCounts
	// lowerWatchersClosed counts lower pod watches closed for a slow client (sync and cleanup).
	lowerWatchersClosed float64
}

// measureRound runs one round of one path with CPU and the upper API server's requests
// taken around its sync and cleanup phases.
// afterSync, if set, runs once the pods are all Running.
func measureRound(t *testing.T, env *benchEnv, path benchPath, n, vnPID int, comps []benchComponent, afterSync func()) benchRow {
	row := benchRow{path: path, n: n, comps: make([]float64, len(comps))}
	// A subtest per round: its informers stop before the next.
	t.Run(fmt.Sprintf("%s-%d", strings.ReplaceAll(path.String(), " ", "-"), time.Now().Unix()), func(t *testing.T) {
		r := startBenchRun(t, env, path, n)
		cpu := func() (vn float64, c []float64) {
			c = make([]float64, len(comps))
			for i, comp := range comps {
				c[i] = procCPU(t, comp.pid).Seconds()
			}
			return procCPU(t, vnPID).Seconds(), c
		}
		api := componentIndex(comps, "upper apiserver")
		m0, l0 := scrapeRequests(t, upper), scrapeRequests(t, lowerA)
		vn0, c0 := cpu()
		row.sync = r.create(t)
		m1 := scrapeRequests(t, upper)
		vn1, c1 := cpu()
		if afterSync != nil {
			afterSync()
		}
		row.clean = r.cleanup(t)
		m2, l2 := scrapeRequests(t, upper), scrapeRequests(t, lowerA)
		vn2, c2 := cpu()
		row.vnCPU, row.vnClean = vn1-vn0, vn2-vn1
		for i := range comps {
			row.comps[i] = c2[i] - c0[i]
		}
		row.apiSync = c1[api] - c0[api]
		row.w, row.wClean = m1.since(m0).summary(), m2.since(m1).summary()
		row.lowerWatchersClosed = l2.since(l0).summary().terminatedWatchers
	})
	return row
}

func componentIndex(comps []benchComponent, name string) int {
	for i, c := range comps {
		if c.name == name {
			return i
		}
	}
	panic("no component " + name)
}

type benchComponent struct {
	name string
	pid  int
}

// benchComponents finds the test bed's control-plane processes whose CPU the report
// shows: all paths share two cores, so the upper side's cost is part of the answer.
func benchComponents(t testing.TB) []benchComponent {
	var out []benchComponent
	for _, c := range []struct{ cluster, bin, name string }{
		{"upper", "kube-apiserver", "upper apiserver"},
		{"upper", "etcd", "upper etcd"},
		{"upper", "kwok-controller", "upper kwok"},
		{"lower-a", "kube-apiserver", "lower apiserver"},
		{"lower-a", "etcd", "lower etcd"},
		{"lower-a", "kube-scheduler", "lower scheduler"},
		{"lower-a", "kwok-controller", "lower kwok"},
	} {
		exe := filepath.Join(testbed, "kwok", "clusters", c.cluster, "bin", c.bin)
		entries, _ := os.ReadDir("/proc")
		found := false
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if strings.HasPrefix(string(cmd), exe+"\x00") {
				out = append(out, benchComponent{c.name, pid})
				found = true
				break
			}
		}
		if !found {
			t.Fatalf("no process of %s in %s", c.bin, c.cluster)
		}
	}
	return out
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
