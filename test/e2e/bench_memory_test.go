package e2e

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// memResult is the memory phase: a virtual node started over a lower cluster that
// already runs many foreign pods, then rounds of the benchmark's pods through it.
type memResult struct {
	foreign, nodes int
	foreignSetup   time.Duration // foreign pods created and Running
	rssSynced      int           // KiB, virtual node idle after its caches synced
	rssAfterSync   []int         // KiB, each through round once all its pods are Running
	peak           int           // KiB, VmHWM at the end
	rows           []benchRow
}

// benchMemory adds BENCH_FOREIGN_NODES KWOK nodes (20) to lower-a with
// BENCH_FOREIGN_PODS pods (10,000) that no virtual node created, starts a fresh virtual
// node over it, and runs BENCH_MEM_ROUNDS rounds (2) of the direct and through paths.
func benchMemory(t *testing.T, env *benchEnv, comps []benchComponent, pods int) memResult {
	res := memResult{foreign: envInt(t, "BENCH_FOREIGN_PODS", 10000), nodes: envInt(t, "BENCH_FOREIGN_NODES", 20)}
	start := time.Now()
	foreignPods(t, env, res.foreign, res.nodes)
	res.foreignSetup = time.Since(start)
	t.Logf("%d foreign pods on %d lower nodes Running in %v", res.foreign, res.nodes, res.foreignSetup)

	mem := *env
	mem.vnode = "vk-mem"
	vn := startBenchVirtualNode(t, mem.vnode)
	pid := vn.Cmd.Process.Pid
	res.rssSynced = settledRSS(t, pid)
	saveProfile(t, vn, "heap", "heap-synced")
	for r := 1; r <= envInt(t, "BENCH_MEM_ROUNDS", 2); r++ {
		paths := []benchPath{pathDirect, pathThrough}
		if r%2 == 0 {
			paths[0], paths[1] = paths[1], paths[0]
		}
		for _, path := range paths {
			var after func()
			if path == pathThrough {
				after = func() { res.rssAfterSync = append(res.rssAfterSync, procRSS(t, pid)) }
			}
			row := measureRound(t, &mem, path, pods, pid, comps, after)
			row.round = "mem " + strconv.Itoa(r)
			row.label = path.String()
			if path == pathThrough {
				row.label += fmt.Sprintf(" (%d foreign pods)", res.foreign)
			}
			res.rows = append(res.rows, row)
			t.Logf("memory round %d %s: all Running in %v, RSS %d MiB", r, path, row.sync.wall, procRSS(t, pid)/1024)
		}
	}
	res.peak = procPeakRSS(t, pid)
	saveProfile(t, vn, "heap", "heap-end")
	return res
}

// foreignPods creates nodes KWOK nodes in lower-a and n bare pods spread over them, and
// waits until all are Running.
func foreignPods(t *testing.T, env *benchEnv, n, nodes int) {
	ctx := context.Background()
	names := make([]string, nodes)
	for i := range names {
		names[i] = fmt.Sprintf("bench-foreign-%02d", i)
		createFakeNode(t, lowerA, names[i], map[string]string{"tensile.dev/bench-foreign": "true"}, "64", n/nodes+50)
	}
	ns := try(env.c.lower.CoreV1().Namespaces().Create(ctx,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-foreign-"}}, metav1.CreateOptions{})).must(t).Name
	t.Cleanup(func() { _ = env.c.lower.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	running := newPodClock(n)
	running.begin()
	stop := make(chan struct{})
	defer close(stop)
	factory := informers.NewSharedInformerFactoryWithOptions(env.c.lower, 0, informers.WithNamespace(ns))
	_, _ = factory.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj any) {
			if p := obj.(*corev1.Pod); p.Status.Phase == corev1.PodRunning {
				running.mark(p.Name)
			}
		},
	})
	factory.Start(stop)
	factory.WaitForCacheSync(stop)
	req := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}
	inFlight(n, func(i int) {
		pod := virtualPod(ns, fmt.Sprintf("f-%05d", i), names[i%nodes])
		pod.Spec.Tolerations = nil
		pod.Spec.Containers[0].Resources.Requests = req
		if _, err := env.c.lower.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Error(err)
		}
	})
	running.wait(t, "foreign Running", 10*time.Minute)
}

// settledRSS waits (up to 60 s) until a process's RSS stops growing by more than 1 MiB
// in 2 s, and returns it in KiB: the virtual node once its caches hold the lower cluster.
func settledRSS(t testing.TB, pid int) int {
	last := procRSS(t, pid)
	_ = wait.PollUntilContextTimeout(context.Background(), 2*time.Second, 60*time.Second, false, func(context.Context) (bool, error) {
		cur := procRSS(t, pid)
		done := cur-last < 1024
		last = cur
		return done, nil
	})
	return last
}
