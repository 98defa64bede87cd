package lowerfit

import (
	"context"
	"fmt"
	"runtime"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/tensile-kube/tensile/pkg/capacity"
	"github.com/tensile-kube/tensile/pkg/constraints"
)

// BenchmarkCycle is the plugin's whole share of one scheduling cycle, as in the
// end-to-end throughput comparison (test/e2e/scheduler_bench_test.go): 20 and 100
// virtual nodes whose summaries stand for 1,000 lower nodes each (3 zones x 4 sizes, partly
// used), pods of 100m/256Mi of which every third carries a saved zone selector;
// PreFilter, Filter and Score on every node, NormalizeScore, Reserve on the best.
// Reservations pile up over a burst of 5,000 pods (no summary counts them yet), then
// the plugin starts afresh.
func BenchmarkCycle(b *testing.B) {
	for _, vnodes := range []int{20, 100} {
		b.Run(fmt.Sprintf("vnodes=%d", vnodes), func(b *testing.B) { benchmarkCycle(b, vnodes) })
	}
}

func benchmarkCycle(b *testing.B, vnodes int) {
	const lowerNodes, burst = 1000, 5000
	t := &testing.T{}
	fresh := func() (*Plugin, []fwk.NodeInfo) {
		pl, _ := newTestPlugin(t)
		nis := make([]fwk.NodeInfo, vnodes)
		for v := range nis {
			name, _ := benchLowerCluster(pl, v, lowerNodes)
			nis[v] = virtualNode(name)
		}
		return pl, nis
	}
	pods := benchPods(burst)
	ctx := context.Background()
	pl, nis := fresh()
	scores := make(fwk.NodeScoreList, vnodes)
	b.ReportAllocs()
	runtime.GC()
	cpu := processCPU(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i > 0 && i%burst == 0 {
			b.StopTimer()
			cpu -= processCPU(b)
			pl, nis = fresh()
			runtime.GC()
			cpu += processCPU(b)
			b.StartTimer()
		}
		pod := pods[i%burst]
		state := framework.NewCycleState()
		if _, st := pl.PreFilter(ctx, state, pod, nil); !st.IsSuccess() {
			b.Fatal(st)
		}
		for j, ni := range nis {
			if st := pl.Filter(ctx, state, pod, ni); !st.IsSuccess() {
				b.Fatal(st)
			}
			s, _ := pl.Score(ctx, state, pod, ni)
			scores[j] = fwk.NodeScore{Name: ni.Node().Name, Score: s}
		}
		pl.NormalizeScore(ctx, state, pod, scores)
		best := 0
		for j := range scores {
			if scores[j].Score > scores[best].Score {
				best = j
			}
		}
		// Spread like the scheduler's other scores would, so every node takes its share.
		if st := pl.Reserve(ctx, state, pod, nis[(best+i)%vnodes].Node().Name); !st.IsSuccess() {
			b.Fatal(st)
		}
	}
	b.ReportMetric(float64(processCPU(b)-cpu)/float64(b.N), "cpu-ns/op")
}

// benchPods are n pods of the end-to-end bench: 100m/256Mi, every third with a saved
// zone selector.
func benchPods(n int) []*corev1.Pod {
	pods := make([]*corev1.Pod, n)
	for i := range pods {
		p := upperPod(fmt.Sprintf("p%05d", i), "100m")
		p.UID = types.UID(p.Name)
		p.Spec.Containers[0].Resources.Requests[corev1.ResourceMemory] = resource.MustParse("256Mi")
		if i%3 == 0 {
			_ = constraints.Save(p, &constraints.Constraints{NodeSelector: map[string]string{"topology.kubernetes.io/zone": fmt.Sprintf("zone-%d", i%9/3)}})
		}
		pods[i] = p
	}
	return pods
}

// benchLowerCluster publishes to pl, at t0, the summary of virtual node v's synthetic
// lower cluster: n nodes in 3 zones x 4 sizes (16 to 64 CPU), each partly used by a
// pod of its own size, as in the end-to-end bench. It returns the node's name and the
// model.
func benchLowerCluster(pl *Plugin, v, n int) (string, *capacity.Model) {
	name := fmt.Sprintf("vk-%03d", v)
	nodes := make([]*corev1.Node, n)
	for i := range nodes {
		nodes[i] = lowerNode(fmt.Sprintf("n%d-%04d", v, i), fmt.Sprint(16*(1+i%4)),
			"topology.kubernetes.io/zone", fmt.Sprintf("zone-%d", i%3), "node.kubernetes.io/instance-type", fmt.Sprintf("type-%d", i%4))
	}
	m := publish(pl, name, t0, nodes...)
	for i, n := range nodes {
		m.SetPod(lowerPodSized(n.Name, fmt.Sprintf("%dm", (i*373+v*97)%(16000*(1+i%4))/500*500)))
	}
	republish(pl, m, name, t0)
	return name, m
}

// processCPU is the process's user and system CPU time so far, in nanoseconds. On a
// machine shared with other work, CPU per operation (GC included) compares two runs
// better than wall time does.
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
