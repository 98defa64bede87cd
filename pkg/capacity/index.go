package capacity

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
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
	// admitted caches, per admission key (relaxedMatcher.key), which groups admit
	// pods of that key. Labels and taints are the summary's, so every Index charged
	// from this one shares it; a new summary starts afresh.
	admitted *admissionCache
}

type indexGroup struct {
	proto     *corev1.Node
	taints    []corev1.Taint
	nodeCount int32
	free      Vector
	maxFree   Vector
	slots     []Slot
}

// admission is one group's answer to the label and taint checks of a query.
type admission struct {
	// ok: the labels match and every scheduling taint is tolerated.
	ok bool
	// matched: the labels match.
	matched bool
	// taint indexes the group's first untolerated taint when matched but not ok.
	taint int16
}

// admissible runs the label and taint checks for the group: the pod's relaxed node
// selector/affinity m against the group's labels, then its tolerations against the
// group's NoSchedule/NoExecute taints.
func (g *indexGroup) admissible(q *Query, m nodeaffinity.RequiredNodeAffinity) admission {
	if ok, err := m.Match(g.proto); err != nil || !ok {
		return admission{}
	}
	if t, bad := q.untolerated(g.taints); bad {
		return admission{matched: true, taint: int16(slices.IndexFunc(g.taints, func(x corev1.Taint) bool {
			return x.Key == t.Key && x.Value == t.Value && x.Effect == t.Effect
		}))}
	}
	return admission{ok: true, matched: true}
}

// maxAdmissionKeys bounds the admission cache of one summary: workloads share a few
// constraint sets, and a flood of distinct ones must not grow memory without end
// (beyond it, answers are computed and not kept).
const maxAdmissionKeys = 64

// admissionCache maps an admission key to the admissions of every group. Filter and
// Score ask it concurrently for many pods; each key is computed about once.
type admissionCache struct {
	entries sync.Map // string -> []admission
	size    atomic.Int32
}

// admissions returns each group's admission of q: from the cache when a pod with the
// same constraints asked before, otherwise computed (label matching is most of the
// per-node cost of Filter and Score) and kept.
func (ix *Index) admissions(q *Query) []admission {
	rm := q.matcherFor(ix.policy, ix.policyID)
	cache := ix.admitted
	if cache != nil && rm.key != "" {
		if v, ok := cache.entries.Load(rm.key); ok {
			return v.([]admission)
		}
	}
	out := make([]admission, len(ix.groups))
	for i := range ix.groups {
		out[i] = ix.groups[i].admissible(q, rm.match)
	}
	if cache != nil && rm.key != "" && cache.size.Load() < maxAdmissionKeys {
		if _, loaded := cache.entries.LoadOrStore(rm.key, out); !loaded {
			cache.size.Add(1)
		}
	}
	return out
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
		admitted:    &admissionCache{},
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

// WithUpdateTime returns a copy of ix stamped with a newer build time, for a
// heartbeat: a summary rebuilt with the same content. The copy shares the compiled
// groups and the admission cache, which depend on the content only.
func (ix *Index) WithUpdateTime(t time.Time) *Index {
	c := *ix
	c.UpdateTime = t
	return &c
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
	adm := ix.admissions(q)
	for i := range ix.groups {
		g := &ix.groups[i]
		if !adm[i].ok || !g.maxFree.Fits(q.Requests) {
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
	adm := ix.admissions(q)
	gi, si = -1, -1
	for i := range ix.groups {
		g := &ix.groups[i]
		if !adm[i].ok || !g.maxFree.Fits(q.Requests) {
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
	adm := ix.admissions(q)
	var v verdict
	for i := range ix.groups {
		g := &ix.groups[i]
		if !v.admit(g, adm[i]) {
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
	adm := ix.admissions(q)
	var total int64
	for i := range ix.groups {
		g := &ix.groups[i]
		if !adm[i].ok {
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
