package lowerfit

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
	"github.com/tensile-kube/tensile/pkg/capacity"
)

// TestPreFilterSharesQueries: pods of one shape share one prepared query, which their
// reservations hold; another shape, or a view with other label policies, gets its own.
func TestPreFilterSharesQueries(t *testing.T) {
	pl, _ := newTestPlugin(t)
	publish(pl, "vk-a", t0, lowerNode("a", "8", "topology.kubernetes.io/zone", "zone-0"))
	pods := benchPods(4) // p00000 and p00003 carry zone selectors; p00001 and p00002 none
	queryOf := func(i int) *capacity.Query {
		t.Helper()
		state := framework.NewCycleState()
		if _, st := pl.PreFilter(context.Background(), state, pods[i], nil); !st.IsSuccess() {
			t.Fatal(st)
		}
		d, st := readCycle(state)
		if st != nil {
			t.Fatal(st)
		}
		return d.query
	}
	if queryOf(1) != queryOf(2) {
		t.Error("two pods of one shape got two queries")
	}
	if queryOf(0) == queryOf(1) {
		t.Error("a pod with a zone selector shares the query of one without")
	}
	before := queryOf(1)
	pl.store.setSummary(capacity.NewIndex(&v1alpha1.ClusterSummaryStatus{VirtualNode: "vk-b", UpdateTime: metav1.NewMicroTime(t0), IgnoredLabelKeys: []string{"rack"}}))
	if queryOf(1) == before {
		t.Error("a view with another label policy reused a query prepared without it")
	}
}

// TestReserveDropsCycleState: the binding cycle, which holds the pod's cycle state
// while it waits on the API server, keeps no view of the plugin's.
func TestReserveDropsCycleState(t *testing.T) {
	pl, _ := newTestPlugin(t)
	publish(pl, "vk-a", t0, lowerNode("a", "8"))
	pod := benchPods(1)[0]
	state := framework.NewCycleState()
	if _, st := pl.PreFilter(context.Background(), state, pod, nil); !st.IsSuccess() {
		t.Fatal(st)
	}
	if st := pl.Reserve(context.Background(), state, pod, "vk-a"); !st.IsSuccess() {
		t.Fatal(st)
	}
	if _, err := state.Read(stateKey); err == nil {
		t.Error("the cycle state still holds the plugin's view after Reserve")
	}
	if len(pl.store.snapshot().nodes) != 1 || pl.store.byPod[pod.UID] == nil {
		t.Error("Reserve did not charge the pod")
	}
}
