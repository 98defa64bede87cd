package capacity

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/tensile-kube/tensile/pkg/constraints"
	"github.com/tensile-kube/tensile/pkg/vnodeident"
)

// TestFit asks each question of an Index of the model's summary, as the plugin does.
func TestFit(t *testing.T) {
	threeFours := []event{
		addN(makeNode("a", "4", "16Gi")), addN(makeNode("b", "4", "16Gi")), addN(makeNode("c", "4", "16Gi")),
	}
	zones := []event{
		addN(makeNode("a", "8", "16Gi", withLabel("zone", "z1"))),
		addN(makeNode("b", "2", "16Gi", withLabel("zone", "z2"))),
	}
	tests := []struct {
		name        string
		events      []event
		pod         *corev1.Pod
		want        Reason
		wantMessage string
	}{
		{
			name: "12 free CPUs as 4+4+4 cannot take a 6 CPU pod", events: threeFours,
			pod: makePod("p", "", "6", ""), want: InsufficientResources,
			wantMessage: "no lower node has 6 CPU free; largest is 4",
		},
		{
			name: "4 CPU fits exactly", events: threeFours,
			pod: makePod("p", "", "4", "16Gi"), want: Fits,
		},
		{
			name:   "requests of bound pods are subtracted",
			events: append(append([]event{}, threeFours...), addP(makePod("x", "a", "3", "")), addP(makePod("y", "b", "3", "")), addP(makePod("z", "c", "3", ""))),
			pod:    makePod("p", "", "2", ""), want: InsufficientResources,
			wantMessage: "no lower node has 2 CPU free; largest is 1",
		},
		{
			name: "CPU and memory on different nodes do not fit together",
			events: []event{
				addN(makeNode("cpu", "8", "1Gi")), addN(makeNode("mem", "1", "64Gi")),
			},
			pod: makePod("p", "", "4", "8Gi"), want: InsufficientResources,
			wantMessage: "no single lower node has 4 CPU and 8Gi memory free at once",
		},
		{
			name: "zone selector picks the big node", events: zones,
			pod: makePod("p", "", "6", "", withSelector("zone", "z1")), want: Fits,
		},
		{
			name: "zone selector on the small node", events: zones,
			pod: makePod("p", "", "6", "", withSelector("zone", "z2")), want: InsufficientResources,
			wantMessage: "no lower node has 6 CPU free; largest is 2",
		},
		{
			name: "selector nobody matches", events: zones,
			pod: makePod("p", "", "1", "", withSelector("zone", "z9")), want: NoAffinityMatch,
			wantMessage: "no lower node matches the pod's node selector/affinity",
		},
		{
			name:   "untolerated taint",
			events: []event{addN(makeNode("g", "8", "16Gi", withTaint("dedicated", "gpu", corev1.TaintEffectNoSchedule)))},
			pod:    makePod("p", "", "1", ""), want: UntoleratedTaint,
			wantMessage: "every matching lower node has an untolerated taint (dedicated=gpu:NoSchedule)",
		},
		{
			name:   "tolerated taint",
			events: []event{addN(makeNode("g", "8", "16Gi", withTaint("dedicated", "gpu", corev1.TaintEffectNoSchedule)))},
			pod:    makePod("p", "", "1", "", withToleration("dedicated")), want: Fits,
		},
		{
			name:   "PreferNoSchedule does not filter",
			events: []event{addN(makeNode("g", "8", "16Gi", withTaint("soft", "x", corev1.TaintEffectPreferNoSchedule)))},
			pod:    makePod("p", "", "1", ""), want: Fits,
		},
		{
			name:   "extended resource present",
			events: []event{addN(makeNode("cpu", "8", "16Gi")), addN(makeNode("gpu", "2", "16Gi", withAlloc("nvidia.com/gpu", "2")))},
			pod:    makePod("p", "", "1", "", withRequest("nvidia.com/gpu", "2")), want: Fits,
		},
		{
			name:   "extended resource short",
			events: []event{addN(makeNode("gpu", "2", "16Gi", withAlloc("nvidia.com/gpu", "2")))},
			pod:    makePod("p", "", "1", "", withRequest("nvidia.com/gpu", "4")), want: InsufficientResources,
			wantMessage: "no lower node has 4 nvidia.com/gpu free; largest is 2 nvidia.com/gpu",
		},
		{
			name:   "no schedulable node",
			events: []event{addN(makeNode("a", "8", "16Gi", cordoned()))},
			pod:    makePod("p", "", "1", ""), want: NoNodes,
			wantMessage: "no Ready, schedulable lower node",
		},
		{
			name:   "hostname is not checked by the summary",
			events: threeFours,
			pod:    makePod("p", "", "1", "", withSelector(corev1.LabelHostname, "nowhere")), want: Fits,
		},
		{
			name:   "hostname naming a real node",
			events: threeFours,
			pod:    makePod("p", "", "1", "", withSelector(corev1.LabelHostname, "b")), want: Fits,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := NewModel(Options{})
			apply(m, tc.events...)
			q, err := QueryForPod(tc.pod, vnodeident.Default(nil))
			if err != nil {
				t.Fatal(err)
			}
			check := func(src string, got Result, want Reason, msg string) {
				t.Helper()
				if got.Reason != want {
					t.Errorf("%s: reason = %v (%q), want %v", src, got.Reason, got.Message, want)
				}
				if msg != "" && got.Message != msg {
					t.Errorf("%s: message = %q, want %q", src, got.Message, msg)
				}
			}
			ix := NewIndex(m.Summary())
			q.Prepare(ix.LabelPolicy())
			check("summary", ix.Fit(q), tc.want, tc.wantMessage)
		})
	}
}

// TestIndexCharge is the burst the plugin must get right: three 8 CPU nodes take
// three 6 CPU pods and no fourth.
func TestIndexCharge(t *testing.T) {
	m := NewModel(Options{})
	apply(m, addN(makeNode("a", "8", "32Gi")), addN(makeNode("b", "8", "32Gi")), addN(makeNode("c", "8", "32Gi")))
	ix := NewIndex(m.Summary())
	q := NewQuery(PodRequests(makePod("p", "", "6", "1Gi")), &constraints.Constraints{})
	for i := 0; i < 3; i++ {
		var ok bool
		if ix, ok = ix.Charge(q); !ok {
			t.Fatalf("pod %d did not fit", i+1)
		}
	}
	got := ix.Fit(q)
	if got.Fits() {
		t.Fatal("fourth 6 CPU pod fits three 8 CPU nodes")
	}
	if want := "no lower node has 6 CPU free; largest is 2"; got.Message != want {
		t.Errorf("message = %q, want %q", got.Message, want)
	}
	small := NewQuery(PodRequests(makePod("s", "", "2", "")), nil)
	if !ix.Fit(small).Fits() {
		t.Error("a 2 CPU pod should still fit the leftovers")
	}
}

func TestRoomPrefersBiggerCluster(t *testing.T) {
	small, big := NewModel(Options{}), NewModel(Options{})
	apply(small, addN(makeNode("a", "8", "32Gi")))
	apply(big, addN(makeNode("a", "8", "32Gi")), addN(makeNode("b", "8", "32Gi")))
	q := NewQuery(PodRequests(makePod("p", "", "2", "1Gi")), nil)
	rs, rb := NewIndex(small.Summary()).Room(q), NewIndex(big.Summary()).Room(q)
	if rs != 4 || rb != 8 {
		t.Errorf("room = %d (small), %d (big); want 4 and 8", rs, rb)
	}
}
