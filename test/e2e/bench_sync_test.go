package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// TestBenchSync compares creating pods through a virtual node with creating them
// directly in the lower cluster, alternating the two in one run. It is a benchmark, run
// by `make bench` (TENSILE_BENCH=1) on a test bed whose lower nodes have room for the
// pods; it writes its figures to $TESTBED_DIR/bench-sync.md.
func TestBenchSync(t *testing.T) {
	if os.Getenv("TENSILE_BENCH") == "" {
		t.Skip("benchmark: run with make bench (TENSILE_BENCH=1)")
	}
	pods, _ := strconv.Atoi(envOr("BENCH_PODS", "1000"))
	rounds, _ := strconv.Atoi(envOr("BENCH_ROUNDS", "2"))
	// BENCH_VNODE_ARGS adds flags, e.g. "--lower-namespace={namespace}-{cluster}" to
	// measure what a namespace map costs.
	vn := startVirtualNode(t, "vk-bench", lowerA, append([]string{"--kube-api-qps", "1000", "--kube-api-burst", "2000",
		"--client-api-qps", "1000", "--client-api-burst", "2000", "--workers", "32"}, strings.Fields(os.Getenv("BENCH_VNODE_ARGS"))...)...)
	fast := fastClients(t)
	var report []string
	comps := benchComponents(t)
	header := "| round | path | pods | all Running (s) | p50 (s) | p99 (s) | virtual-node CPU (s) |"
	sep := "|---|---|---|---|---|---|---|"
	for _, c := range comps {
		header += " " + c.name + " CPU (s) |"
		sep += "---|"
	}
	report = append(report, header, sep)
	var direct, through []time.Duration
	for r := 1; r <= rounds; r++ {
		for _, via := range []bool{false, true} {
			var res roundResult
			var cpu float64
			compCPU := make([]float64, len(comps))
			// A subtest per round: its namespace (and pods) are gone before the next.
			t.Run(fmt.Sprintf("round-%d-via-%v", r, via), func(t *testing.T) {
				cpu0 := procCPU(t, vn.Cmd.Process.Pid).Seconds()
				for i, c := range comps {
					compCPU[i] = -procCPU(t, c.pid).Seconds()
				}
				res = benchRound(t, fast, vn.Name, via, pods)
				cpu = procCPU(t, vn.Cmd.Process.Pid).Seconds() - cpu0
				for i, c := range comps {
					compCPU[i] += procCPU(t, c.pid).Seconds()
				}
			})
			path := "direct in lower-a"
			if via {
				path = "through vk-bench"
				through = append(through, res.wall)
			} else {
				direct = append(direct, res.wall)
			}
			row := fmt.Sprintf("| %d | %s | %d | %.2f | %.2f | %.2f | %.2f |",
				r, path, pods, res.wall.Seconds(), res.p50.Seconds(), res.p99.Seconds(), cpu)
			for _, c := range compCPU {
				row += fmt.Sprintf(" %.2f |", c)
			}
			report = append(report, row)
			t.Logf("round %d %s: all Running in %v, p50 %v, p99 %v, virtual-node CPU %.2fs", r, path, res.wall, res.p50, res.p99, cpu)
		}
	}
	ratio := mean(through).Seconds() / mean(direct).Seconds()
	report = append(report, "", fmt.Sprintf("Ratio (mean through / mean direct): **%.2f**. virtual-node peak RSS: %d MiB.",
		ratio, procPeakRSS(t, vn.Cmd.Process.Pid)/1024))
	out := strings.Join(report, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(testbed, "bench-sync.md"), []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out)
}

type benchComponent struct {
	name string
	pid  int
}

// benchComponents finds the test bed's control-plane processes whose CPU the report
// shows: both paths share two cores, so the upper side's cost is part of the answer.
func benchComponents(t testing.TB) []benchComponent {
	var out []benchComponent
	for _, c := range []struct{ cluster, bin, name string }{
		{"upper", "kube-apiserver", "upper apiserver"},
		{"upper", "etcd", "upper etcd"},
		{"lower-a", "kube-apiserver", "lower apiserver"},
		{"lower-a", "etcd", "lower etcd"},
		{"lower-a", "kube-scheduler", "lower scheduler"},
		{"lower-a", "kwok-controller", "lower kwok"},
	} {
		exe := filepath.Join(testbed, "kwok", "clusters", c.cluster, "bin", c.bin)
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if strings.HasPrefix(string(cmd), exe+"\x00") {
				out = append(out, benchComponent{c.name, pid})
				break
			}
		}
	}
	return out
}

type benchClients struct{ upper, lower kubernetes.Interface }

// fastClients are clients without client-side throttling: the benchmark measures the
// clusters and the virtual node, not its own rate limiter.
func fastClients(t testing.TB) benchClients {
	mk := func(c *Cluster) kubernetes.Interface {
		cfg := *c.Config
		cfg.QPS, cfg.Burst = 5000, 10000
		return try(kubernetes.NewForConfig(&cfg)).must(t)
	}
	return benchClients{upper: mk(upper), lower: mk(lowerA)}
}

type roundResult struct{ wall, p50, p99 time.Duration }

// benchRound creates n pods (through the virtual node, or directly below) and waits,
// with an informer, until all are Running on the side where they were created.
func benchRound(t *testing.T, c benchClients, vnode string, via bool, n int) roundResult {
	ctx := context.Background()
	target, cluster := c.lower, lowerA
	if via {
		target, cluster = c.upper, upper
	}
	ns := createNamespace(t, cluster, "bench")
	var mu sync.Mutex
	created := map[string]time.Time{}
	running := map[string]time.Duration{}
	done := make(chan struct{})
	factory := informers.NewSharedInformerFactoryWithOptions(target, 0, informers.WithNamespace(ns))
	_, _ = factory.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj any) {
			p := obj.(*corev1.Pod)
			if p.Status.Phase != corev1.PodRunning {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if _, seen := running[p.Name]; seen {
				return
			}
			if c, ok := created[p.Name]; ok {
				running[p.Name] = time.Since(c)
			} else {
				running[p.Name] = 0
			}
			if len(running) == n {
				close(done)
			}
		},
	})
	stop := make(chan struct{})
	defer close(stop)
	factory.Start(stop)
	factory.WaitForCacheSync(stop)

	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			name := fmt.Sprintf("p-%04d", i)
			pod := virtualPod(ns, name, vnode)
			if !via {
				pod.Spec.NodeName, pod.Spec.Tolerations = "", nil
			}
			mu.Lock()
			created[name] = time.Now()
			mu.Unlock()
			if _, err := target.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("only %d of %d pods Running after 5m", len(running), n)
	}
	wall := time.Since(start)
	mu.Lock()
	lat := make([]time.Duration, 0, len(running))
	for _, d := range running {
		lat = append(lat, d)
	}
	mu.Unlock()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return roundResult{wall: wall, p50: lat[len(lat)/2], p99: lat[len(lat)*99/100]}
}

func mean(ds []time.Duration) time.Duration {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
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
func procPeakRSS(t testing.TB, pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			kb, _ := strconv.Atoi(strings.Fields(l)[1])
			return kb
		}
	}
	return 0
}
