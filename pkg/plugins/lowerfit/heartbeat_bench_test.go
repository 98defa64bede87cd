package lowerfit

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
	"github.com/tensile-kube/tensile/pkg/capacity"
)

// BenchmarkHeartbeat is the plugin's cost of one ClusterSummary heartbeat (same
// content, newer updateTime) through its informer's update handler, at the scale of
// the end-to-end bench: 100 virtual nodes whose summaries stand for 1,000 lower nodes
// each (3 zones x 4 sizes, partly used), each node with 50 pending reservations. The
// publisher heartbeats every 10 s per virtual node: at 100 virtual nodes, 10 a second.
func BenchmarkHeartbeat(b *testing.B) {
	const vnodes, lowerNodes, reserved = 100, 1000, 50
	t := &testing.T{}
	pl, _ := newTestPlugin(t)
	objs := make([]*v1alpha1.ClusterSummary, vnodes)
	for v := range objs {
		name, m := benchLowerCluster(pl, v, lowerNodes)
		st := m.Summary()
		st.VirtualNode, st.UpdateTime = name, metav1.NewMicroTime(t0)
		objs[v] = &v1alpha1.ClusterSummary{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: *st}
		for r := 0; r < reserved; r++ {
			p := upperPod(fmt.Sprintf("p-%d-%d", v, r), "100m")
			pl.store.reserve(types.UID(p.Name), types.NamespacedName{Namespace: p.Namespace, Name: p.Name}, name, capacity.NewQuery(capacity.PodRequests(p), nil))
		}
	}
	// What the informer hands over: a new object each time, made before the clock runs.
	beats := make([]*v1alpha1.ClusterSummary, b.N)
	for i := range beats {
		beats[i] = objs[i%vnodes].DeepCopy()
		beats[i].Status.UpdateTime = metav1.NewMicroTime(t0.Add(time.Duration(i+1) * time.Millisecond))
	}
	h := pl.summaryHandler(klog.Background())
	b.ReportAllocs()
	runtime.GC()
	cpu := processCPU(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.OnUpdate(objs[i%vnodes], beats[i])
		objs[i%vnodes] = beats[i]
	}
	b.ReportMetric(float64(processCPU(b)-cpu)/float64(b.N), "cpu-ns/op")
}
