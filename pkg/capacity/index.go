package capacity

import (
	"math"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
)

// Index is a published summary compiled for fit questions: groups with prebuilt
// matching nodes and decoded slot vectors. It is immutable; Charge returns a new one.
type Index struct {
	// VirtualNode is the virtual node the summary stands for.
	VirtualNode string
	// UpdateTime is the summary's build time.
	UpdateTime time.Time
	// ContentHash is the summary's content digest.
	ContentHash string

	policy   LabelPolicy
	policyID string
	groups   []indexGroup
}

type indexGroup struct {
	proto     *corev1.Node
	taints    []corev1.Taint
	nodeCount int32
	free      Vector
	maxFree   Vector
	slots     []Slot
}

// admissible runs the label and taint checks for the group: the pod's relaxed node
// selector/affinity m against the group's labels, then its tolerations against the
// group's NoSchedule/NoExecute taints. ok is true when both pass; matched is true when
// the labels pass, and then taint is the first untolerated taint if ok is false.
func (g *indexGroup) admissible(q *Query, m nodeaffinity.RequiredNodeAffinity) (ok, matched bool, taint corev1.Taint) {
	if ok, err := m.Match(g.proto); err != nil || !ok {
		return false, false, corev1.Taint{}
	}
	if t, bad := q.untolerated(g.taints); bad {
		return false, true, t
	}
	return true, true, corev1.Taint{}
}

// Slot is a free vector shared by Count nodes.
type Slot struct {
	// Free is each node's free amount.
	Free Vector
	// Count is how many nodes have it.
	Count int32
}

// NewIndex compiles a summary.
func NewIndex(st *v1alpha1.ClusterSummaryStatus) *Index {
	ix := &Index{
		VirtualNode: st.VirtualNode,
		UpdateTime:  st.UpdateTime.Time,
		ContentHash: st.ContentHash,
		policy:      LabelPolicy{IgnoreKeys: st.IgnoredLabelKeys, IgnorePrefixes: st.IgnoredLabelPrefixes},
		groups:      make([]indexGroup, len(st.Groups)),
	}
	ix.policyID = ix.policy.ID()
	for i, g := range st.Groups {
		taints := schedulingTaints(g.Taints)
		ig := indexGroup{
			proto:     &corev1.Node{ObjectMeta: metav1.ObjectMeta{Labels: g.Labels}, Spec: corev1.NodeSpec{Taints: taints}},
			taints:    taints,
			nodeCount: g.NodeCount,
			free:      VectorFromAmounts(g.Free),
			maxFree:   VectorFromAmounts(g.MaxFree),
			slots:     make([]Slot, len(g.Slots)),
		}
		for j, s := range g.Slots {
			ig.slots[j] = Slot{Free: VectorFromAmounts(s.Free), Count: s.Count}
		}
		ix.groups[i] = ig
	}
	return ix
}

// LabelPolicy returns the policy the summary was built with; pass it to Query.Prepare.
func (ix *Index) LabelPolicy() LabelPolicy { return ix.policy }

// Fit answers whether some lower node can take the pod: groups are matched first (node
// selector, required affinity, taints), then the pod's requests are checked against
// each matching group's largest free amounts and slots.
func (ix *Index) Fit(q *Query) Result {
	if ix.anyFits(q) {
		return Result{Reason: Fits}
	}
	return ix.explain(q)
}

// anyFits reports whether some slot takes the pod, stopping at the first: Filter runs
// for every virtual node in every cycle and needs no more than that.
func (ix *Index) anyFits(q *Query) bool {
	m := q.matcherFor(ix.policy, ix.policyID)
	for i := range ix.groups {
		g := &ix.groups[i]
		if !g.maxFree.Fits(q.Requests) {
			continue
		}
		if ok, _, _ := g.admissible(q, m); !ok {
			continue
		}
		for j := range g.slots {
			if g.slots[j].Count > 0 && g.slots[j].Free.Fits(q.Requests) {
				return true
			}
		}
	}
	return false
}

// find returns the largest slot (by CPU, then memory) that takes the pod.
func (ix *Index) find(q *Query) (gi, si int, ok bool) {
	m := q.matcherFor(ix.policy, ix.policyID)
	gi, si = -1, -1
	for i := range ix.groups {
		g := &ix.groups[i]
		if ok, _, _ := g.admissible(q, m); !ok || !g.maxFree.Fits(q.Requests) {
			continue
		}
		for j := range g.slots {
			s := &g.slots[j]
			if s.Count <= 0 || !s.Free.Fits(q.Requests) {
				continue
			}
			if gi < 0 || largerSlot(s.Free, ix.groups[gi].slots[si].Free) {
				gi, si = i, j
			}
		}
	}
	return gi, si, gi >= 0
}

func largerSlot(a, b Vector) bool {
	if a.MilliCPU != b.MilliCPU {
		return a.MilliCPU > b.MilliCPU
	}
	return a.Memory > b.Memory
}

// explain walks the groups again to say why nothing fits.
func (ix *Index) explain(q *Query) Result {
	m := q.matcherFor(ix.policy, ix.policyID)
	var v verdict
	for i := range ix.groups {
		g := &ix.groups[i]
		if !v.admit(g.admissible(q, m)) {
			continue
		}
		v.largest.maxInPlace(g.maxFree)
	}
	return v.result(q.Requests)
}

// Room estimates how many pods shaped like q's the cluster can still take: over the
// matching, tolerated groups, the sum of each group's free total divided by the
// request, on the scarcest resource. It ignores fragmentation; it ranks clusters.
func (ix *Index) Room(q *Query) int64 {
	m := q.matcherFor(ix.policy, ix.policyID)
	var total int64
	for i := range ix.groups {
		g := &ix.groups[i]
		if ok, _, _ := g.admissible(q, m); !ok {
			continue
		}
		total += copiesThatFit(g.free, q.Requests)
	}
	return total
}

// copiesThatFit is min over requested resources of free/request. It runs for every
// group of every virtual node in every Score, so it allocates nothing.
func copiesThatFit(free, req Vector) int64 {
	n := int64(math.MaxInt32)
	fit := func(f, r int64) {
		if r > 0 {
			n = min(n, max(f, 0)/r)
		}
	}
	fit(free.MilliCPU, req.MilliCPU)
	fit(free.Memory, req.Memory)
	fit(free.EphemeralStorage, req.EphemeralStorage)
	fit(free.Pods, req.Pods)
	for name, r := range req.Scalars {
		fit(free.Scalars[name], r)
	}
	return n
}

// Charge returns a copy of ix in which the pod of q occupies the slot Fit would give it
// (the largest, as the lower scheduler's default least-allocated scoring would pick).
// ok is false, and ix is returned unchanged, when the pod fits nowhere. The node's new
// free vector joins an equal slot when there is one, so a burst of like pods keeps the
// slot list (and the cost of later fit questions) short.
func (ix *Index) Charge(q *Query) (out *Index, ok bool) {
	gi, si, ok := ix.find(q)
	if !ok {
		return ix, false
	}
	c := *ix
	c.groups = slices.Clone(ix.groups)
	g := &c.groups[gi]
	g.slots = slices.Clone(g.slots)
	left := g.slots[si].Free.Clone()
	left.Sub(q.Requests)
	g.slots[si].Count--
	if j := slices.IndexFunc(g.slots, func(s Slot) bool { return s.Free.equal(left) }); j >= 0 {
		g.slots[j].Count++
	} else {
		g.slots = append(g.slots, Slot{Free: left, Count: 1})
	}
	g.free = g.free.Clone()
	g.free.Sub(q.Requests)
	var covered int32
	for _, s := range g.slots {
		covered += s.Count
	}
	if covered == g.nodeCount { // the slots describe every node: the maximum is exact
		var mf Vector
		for _, s := range g.slots {
			if s.Count > 0 {
				mf.maxInPlace(s.Free)
			}
		}
		g.maxFree = mf
	}
	return &c, true
}
