package capacity

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
)

func TestSummaryGroups(t *testing.T) {
	m := NewModel(Options{})
	apply(m,
		addN(makeNode("a", "8", "32Gi", withLabel("zone", "z1"))),
		addN(makeNode("b", "8", "32Gi", withLabel("zone", "z1"))),
		addN(makeNode("c", "8", "32Gi", withLabel("zone", "z1"))),
		addN(makeNode("g", "4", "16Gi", withLabel("zone", "z1"), withTaint("gpu", "", corev1.TaintEffectNoSchedule))),
		addN(makeNode("x", "4", "16Gi", withLabel("zone", "z2"), notReady())),
		addP(makePod("p", "c", "6", "")),
	)
	st := m.Summary()
	want := []v1alpha1.NodeGroup{
		{
			Labels: map[string]string{"zone": "z1"}, NodeCount: 3,
			Allocatable: amounts(24000, 96<<30, 330), Free: amounts(18000, 96<<30, 329), MaxFree: amounts(8000, 32<<30, 110),
			Slots: []v1alpha1.FreeSlot{{Free: amounts(8000, 32<<30, 110), Count: 2}, {Free: amounts(2000, 32<<30, 109), Count: 1}},
		},
		{
			Labels: map[string]string{"zone": "z1"}, Taints: []corev1.Taint{{Key: "gpu", Effect: corev1.TaintEffectNoSchedule}}, NodeCount: 1,
			Allocatable: amounts(4000, 16<<30, 110), Free: amounts(4000, 16<<30, 110), MaxFree: amounts(4000, 16<<30, 110),
			Slots: []v1alpha1.FreeSlot{{Free: amounts(4000, 16<<30, 110), Count: 1}},
		},
	}
	if diff := cmp.Diff(want, st.Groups); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
	if st.NodeCount != 5 || st.SchedulableNodeCount != 4 {
		t.Errorf("node counts = %d/%d, want 5/4", st.SchedulableNodeCount, st.NodeCount)
	}
	again := m.Summary()
	if again.ContentHash != st.ContentHash {
		t.Error("content hash changed without a change")
	}
	m.SetPod(makePod("q", "a", "1", ""))
	if m.Summary().ContentHash == st.ContentHash {
		t.Error("content hash did not change with the content")
	}
}

func amounts(cpu, mem, pods int64) v1alpha1.ResourceAmounts {
	return v1alpha1.ResourceAmounts{corev1.ResourceCPU: cpu, corev1.ResourceMemory: mem, corev1.ResourcePods: pods, corev1.ResourceEphemeralStorage: 0}
}

// TestSummaryBounded: 10,000 nodes with unique hostnames and many distinct usages stay
// within MaxGroups x SlotsPerGroup, and a label with too many values folds groups.
func TestSummaryBounded(t *testing.T) {
	tests := []struct {
		name       string
		racks      int
		wantGroups int
		wantMerged bool
	}{
		{name: "hostname does not split groups", racks: 3, wantGroups: 3},
		{name: "too many racks fold into a merged group", racks: 500, wantGroups: DefaultMaxGroups, wantMerged: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := NewModel(Options{})
			for i := 0; i < 10000; i++ {
				name := fmt.Sprintf("n%05d", i)
				m.SetNode(makeNode(name, "16", "64Gi", withLabel("rack", fmt.Sprint(i%tc.racks))))
				m.SetPod(makePod(name, name, fmt.Sprintf("%dm", (i*37)%16000), ""))
			}
			st := m.Summary()
			if len(st.Groups) != tc.wantGroups {
				t.Fatalf("groups = %d, want %d", len(st.Groups), tc.wantGroups)
			}
			var nodes int32
			for _, g := range st.Groups {
				nodes += g.NodeCount
				if len(g.Slots) > DefaultSlotsPerGroup {
					t.Errorf("group has %d slots, want at most %d", len(g.Slots), DefaultSlotsPerGroup)
				}
			}
			if nodes != 10000 {
				t.Errorf("groups hold %d nodes, want 10000", nodes)
			}
			if last := st.Groups[len(st.Groups)-1]; last.Merged != tc.wantMerged {
				t.Errorf("last group merged = %v, want %v", last.Merged, tc.wantMerged)
			}
			raw, _ := json.Marshal(st)
			if len(raw) > 256<<10 {
				t.Errorf("summary is %d bytes, want under 256KiB", len(raw))
			}
			t.Logf("%d groups, %d bytes of JSON", len(st.Groups), len(raw))
		})
	}
}

// TestSelectSlotsKeepsChampions: with room for two slots, the node with the most CPU
// and the node with the most memory both survive, even though a mid-sized vector
// would score higher.
func TestSelectSlotsKeepsChampions(t *testing.T) {
	acc := []slotAcc{
		{free: Vector{MilliCPU: 8000, Memory: 1 << 30}, count: 1},
		{free: Vector{MilliCPU: 6000, Memory: 24 << 30}, count: 1},
		{free: Vector{MilliCPU: 1000, Memory: 32 << 30}, count: 1},
	}
	maxFree := Vector{MilliCPU: 8000, Memory: 32 << 30}
	got := selectSlots(acc, 2, maxFree)
	want := []v1alpha1.FreeSlot{
		{Free: Vector{MilliCPU: 1000, Memory: 32 << 30}.Amounts(), Count: 1},
		{Free: Vector{MilliCPU: 8000, Memory: 1 << 30}.Amounts(), Count: 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("slots (-want +got):\n%s", diff)
	}
}
