package capacity

import (
	"testing"
)

// TestChargeMergesEqualSlots: a burst of like pods moves nodes between a few free
// vectors; Charge keeps one slot per vector instead of one per pod, so fit questions
// stay O(groups x slots) however many pods are reserved.
func TestChargeMergesEqualSlots(t *testing.T) {
	m := NewModel(Options{})
	for _, n := range []string{"a", "b", "c", "d"} {
		apply(m, addN(makeNode(n, "8", "32Gi")))
	}
	ix := NewIndex(m.Summary())
	q := NewQuery(PodRequests(makePod("p", "", "1", "1Gi")), nil)
	for i := 0; i < 30; i++ {
		var ok bool
		if ix, ok = ix.Charge(q); !ok {
			t.Fatalf("pod %d did not fit four 8 CPU nodes", i+1)
		}
	}
	g := ix.groups[0]
	var nodes int32
	for _, s := range g.slots {
		nodes += s.Count
	}
	if nodes != 4 || len(g.slots) > 9 {
		t.Errorf("slots = %+v: want the 4 nodes in at most 9 distinct vectors", g.slots)
	}
	if got := ix.Fit(NewQuery(PodRequests(makePod("p", "", "1", "1Gi")), nil)); !got.Fits() {
		t.Errorf("31st 1 CPU pod: %s; 2 CPU are left", got.Message)
	}
	if got := ix.Fit(NewQuery(PodRequests(makePod("p", "", "2", "1Gi")), nil)); got.Fits() {
		t.Error("a 2 CPU pod fits, but 30 pods of 1 CPU spread over 4 x 8 CPU leave at most 1 CPU per node")
	}
}
