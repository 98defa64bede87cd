package recreateunschedulable

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/descheduler/pkg/descheduler/evictions"
	"sigs.k8s.io/descheduler/pkg/framework/plugins/defaultevictor"
	frameworktesting "sigs.k8s.io/descheduler/pkg/framework/testing"
	frameworktypes "sigs.k8s.io/descheduler/pkg/framework/types"
)

// TestDryRunFillsTheSandbox builds the plugin in dry-run mode over an empty sandbox, as
// upstream's first run-once cycle has it (kubernetes-sigs/descheduler#1917): the plugin
// must fill the sandbox from the live cluster when it is built (so upstream counts the
// nodes) and report every pod it would move on the first cycle, deciding from live
// pods even when the sandbox holds a stale copy.
func TestDryRunFillsTheSandbox(t *testing.T) {
	nodes := []*v1.Node{readyNode("vk-a", true), readyNode("vk-b", true), readyNode("worker", false)}
	for _, tc := range []struct {
		name        string
		live        bool
		stale       bool // the sandbox holds p1 as it was before it became Unschedulable
		wantNodes   int
		wantEvicted []string
	}{
		{name: "filled from the live cluster", live: true, wantNodes: 3, wantEvicted: []string{"p1", "solo"}},
		{name: "a stale sandbox copy is replaced by the live pod", live: true, stale: true, wantNodes: 3,
			wantEvicted: []string{"p1", "solo"}},
		{name: "without a live client the sandbox is read as it is", wantNodes: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			pods := []*v1.Pod{stuckPod("p1", "vk-a", time.Hour, ownedByRS), stuckPod("solo", "vk-b", time.Hour),
				stuckPod("fine", "vk-a", 0, func(p *v1.Pod) { p.Status.Phase = v1.PodRunning })}
			var sandbox []*v1.Pod
			if tc.stale {
				p := pods[0].DeepCopy()
				p.Status.Conditions = nil
				sandbox = append(sandbox, p)
			}
			c := newCluster(t, pluginCase{pods: sandbox})
			handle, _, err := frameworktesting.InitFrameworkHandle(ctx, c.client,
				evictions.NewOptions().WithDryRun(true), defaultevictor.DefaultEvictorArgs{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			opts := Options{Exclusions: c.store, DryRun: true, Clock: clocktesting.NewFakePassiveClock(now), Events: c.events}
			if tc.live {
				var objs []runtime.Object
				for _, p := range pods {
					objs = append(objs, p.DeepCopy())
				}
				for _, n := range nodes {
					objs = append(objs, n.DeepCopy())
				}
				opts.Live = fake.NewClientset(objs...)
			}
			plugin, err := NewWithOptions(ctx, &RecreateUnschedulableArgs{}, handle, opts)
			if err != nil {
				t.Fatal(err)
			}
			// What upstream counts before it calls any plugin: the sandbox's nodes.
			got, err := c.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Items) != tc.wantNodes {
				t.Errorf("sandbox holds %d nodes after the plugin was built, want %d", len(got.Items), tc.wantNodes)
			}
			if st := plugin.(frameworktypes.DeschedulePlugin).Deschedule(ctx, nodes); st != nil && st.Err != nil {
				t.Fatalf("Deschedule: %v", st.Err)
			}
			if diff := cmp.Diff(tc.wantEvicted, c.evicted); diff != "" {
				t.Errorf("evicted in the sandbox (-want +got):\n%s", diff)
			}
			if len(c.created) != 0 {
				t.Errorf("dry run created %d pods", len(c.created))
			}
			// Nothing reached the live cluster.
			if tc.live {
				if n := len(opts.Live.(*fake.Clientset).Actions()); n == 0 {
					t.Error("the live cluster was never read")
				}
				for _, a := range opts.Live.(*fake.Clientset).Actions() {
					if a.GetVerb() != "list" {
						t.Errorf("dry run sent %s %s to the live cluster", a.GetVerb(), a.GetResource().Resource)
					}
				}
			}
		})
	}
}
