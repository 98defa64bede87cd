package recreateunschedulable

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/descheduler/pkg/descheduler/evictions"
	podutil "sigs.k8s.io/descheduler/pkg/descheduler/pod"
	"sigs.k8s.io/descheduler/pkg/framework/plugins/defaultevictor"
	frameworktesting "sigs.k8s.io/descheduler/pkg/framework/testing"
	frameworktypes "sigs.k8s.io/descheduler/pkg/framework/types"
)

// TestDryRunWaitsForTheSandbox runs the plugin in dry-run mode over a pod cache that
// answers empty for its first calls on each node, as upstream's sandbox does when a
// run-once cycle starts before it is filled (kubernetes-sigs/descheduler#1917).
func TestDryRunWaitsForTheSandbox(t *testing.T) {
	for _, tc := range []struct {
		name        string
		lag         int // calls per node answered empty; -1: every call
		live        bool
		wantEvicted []string
	}{
		{name: "a lagging sandbox is waited for", lag: 3, live: true, wantEvicted: []string{"p1", "solo"}},
		{name: "without a live client the first answer is taken", lag: 3},
		{name: "a sandbox that never catches up is given up on", lag: -1, live: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			pods := []*v1.Pod{stuckPod("p1", "vk-a", time.Hour, ownedByRS), stuckPod("solo", "vk-b", time.Hour)}
			c := newCluster(t, pluginCase{pods: pods})
			handle, _, err := frameworktesting.InitFrameworkHandle(ctx, c.client,
				evictions.NewOptions().WithDryRun(true), defaultevictor.DefaultEvictorArgs{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			cached, calls := handle.GetPodsAssignedToNodeFuncImpl, map[string]int{}
			handle.GetPodsAssignedToNodeFuncImpl = func(node string, filter podutil.FilterFunc) ([]*v1.Pod, error) {
				calls[node]++
				if tc.lag < 0 || calls[node] <= tc.lag {
					return nil, nil
				}
				return cached(node, filter)
			}
			opts := Options{Exclusions: c.store, DryRun: true, Clock: clocktesting.NewFakePassiveClock(now),
				Events: c.events, SandboxWait: 300 * time.Millisecond}
			if tc.live {
				opts.Live = fake.NewClientset(pods[0].DeepCopy(), pods[1].DeepCopy())
			}
			plugin, err := NewWithOptions(ctx, &RecreateUnschedulableArgs{}, handle, opts)
			if err != nil {
				t.Fatal(err)
			}
			nodes := []*v1.Node{readyNode("vk-a", true), readyNode("vk-b", true), readyNode("worker", false)}
			start := time.Now()
			if st := plugin.(frameworktypes.DeschedulePlugin).Deschedule(ctx, nodes); st != nil && st.Err != nil {
				t.Fatalf("Deschedule: %v", st.Err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Deschedule took %v; the wait must be bounded", d)
			}
			if diff := cmp.Diff(tc.wantEvicted, c.evicted); diff != "" {
				t.Errorf("evicted in the sandbox (-want +got):\n%s", diff)
			}
		})
	}
}
