package lowerfit

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/kubernetes/pkg/scheduler/framework"
)

// BenchmarkFilter is one Filter call for one pod against one virtual node whose
// summary stands for 100, 1,000 and 10,000 lower nodes (three zones, varied usage),
// for a pod that fits and one that does not (the rejection is explained, a second
// pass over the groups).
func BenchmarkFilter(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		for _, tc := range []struct{ name, cpu string }{{"fits", "6"}, {"rejected", "20"}} {
			b.Run(fmt.Sprintf("nodes=%d/%s", n, tc.name), func(b *testing.B) {
				pl, _ := newTestPlugin(&testing.T{})
				nodes := make([]*corev1.Node, n)
				for i := range nodes {
					nodes[i] = lowerNode(fmt.Sprintf("n%05d", i), "16", "topology.kubernetes.io/zone", fmt.Sprintf("z%d", i%3))
				}
				m := publish(pl, "vk-a", t0, nodes...)
				for i := 0; i < n; i++ {
					m.SetPod(lowerPodSized(fmt.Sprintf("n%05d", i), fmt.Sprintf("%dm", (i*373)%15000)))
				}
				republish(pl, m, "vk-a", t0)
				pod := upperPod("p", tc.cpu)
				pod.Spec.NodeSelector["topology.kubernetes.io/zone"] = "z1"
				ctx := context.Background()
				state := framework.NewCycleState()
				pl.PreFilter(ctx, state, pod, nil)
				ni := virtualNode("vk-a")
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					_ = pl.Filter(ctx, state, pod, ni)
				}
			})
		}
	}
}

func lowerPodSized(node, cpu string) *corev1.Pod {
	p := lowerPod(node, cpu)
	p.Name = "w-" + node
	p.Spec.Containers[0].Resources.Requests[corev1.ResourceMemory] = resource.MustParse("1Gi")
	return p
}
