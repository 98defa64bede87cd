package lowerfit

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
	"github.com/tensile-kube/tensile/pkg/capacity"
)

// BenchmarkSummaryMemory reports the live heap one ClusterSummary of the end-to-end
// bench (1,000 lower nodes, 3 zones x 4 sizes, partly used) takes in each form the
// multi-scheduler may hold: the typed object (the plugin's informer), the
// unstructured object (the dynamic informer kube-scheduler starts for the
// ClusterSummary event) and the compiled capacity.Index.
func BenchmarkSummaryMemory(b *testing.B) {
	const vnodes = 20
	t := &testing.T{}
	pl, _ := newTestPlugin(t)
	objs := make([]*v1alpha1.ClusterSummary, vnodes)
	for v := range objs {
		name, m := benchLowerCluster(pl, v, 1000)
		st := m.Summary()
		st.VirtualNode, st.UpdateTime = name, metav1.NewMicroTime(t0)
		objs[v] = &v1alpha1.ClusterSummary{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: *st}
	}
	forms := map[string]func(cs *v1alpha1.ClusterSummary) any{
		"typed": func(cs *v1alpha1.ClusterSummary) any { return cs.DeepCopy() },
		"unstructured": func(cs *v1alpha1.ClusterSummary) any {
			u, err := k8sruntime.DefaultUnstructuredConverter.ToUnstructured(cs)
			if err != nil {
				b.Fatal(err)
			}
			return &unstructured.Unstructured{Object: u}
		},
		"index": func(cs *v1alpha1.ClusterSummary) any { return capacity.NewIndex(&cs.Status) },
	}
	for _, name := range []string{"typed", "unstructured", "index"} {
		b.Run(name, func(b *testing.B) {
			var held []any
			for i := 0; i < b.N; i++ {
				held = nil
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				for _, cs := range objs {
					held = append(held, forms[name](cs))
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/vnodes, "heap-B/summary")
			}
			runtime.KeepAlive(held)
		})
	}
}

// BenchmarkReservationMemory reports the live heap each reservation holds (its pod's
// prepared query, the reservation, the store's maps, and what the pod's cycle state
// keeps through the binding cycle, which the scheduler runs for many pods at once)
// during a burst like the end-to-end bench's: 5,000 pods of 100m/256Mi, every third
// with a saved zone selector, spread over 100 virtual nodes whose summaries count none
// of them yet.
func BenchmarkReservationMemory(b *testing.B) {
	const vnodes, burst = 100, 5000
	t := &testing.T{}
	pods := benchPods(burst)
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		pl, _ := newTestPlugin(t)
		for v := 0; v < vnodes; v++ {
			benchLowerCluster(pl, v, 1000)
		}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		binding := make([]fwk.CycleState, 0, burst)
		for j, pod := range pods {
			state := framework.NewCycleState()
			binding = append(binding, state)
			if _, st := pl.PreFilter(ctx, state, pod, nil); !st.IsSuccess() {
				b.Fatal(st)
			}
			if st := pl.Reserve(ctx, state, pod, fmt.Sprintf("vk-%03d", j%vnodes)); !st.IsSuccess() {
				b.Fatal(st)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/burst, "heap-B/reservation")
		runtime.KeepAlive(pl)
		runtime.KeepAlive(binding)
	}
}
