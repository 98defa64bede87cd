package capacity

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"sort"

	corev1 "k8s.io/api/core/v1"

	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
)

// Summary returns the model's bounded summary: at most MaxGroups groups of at most
// SlotsPerGroup slots each, whatever the number of nodes. UpdateTime and VirtualNode
// are left for the publisher; ContentHash is set. Only groups that changed since the
// last call are rebuilt, each in one pass over its nodes.
func (m *Model) Summary() *v1alpha1.ClusterSummaryStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := make([]string, 0, len(m.groups))
	for k := range m.groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	groups := make([]v1alpha1.NodeGroup, 0, len(keys))
	for _, k := range keys {
		g := m.groups[k]
		if g.dirty {
			g.built = buildGroup(g, m.slots)
			g.dirty = false
		}
		var c v1alpha1.NodeGroup
		g.built.DeepCopyInto(&c)
		groups = append(groups, c)
	}
	st := &v1alpha1.ClusterSummaryStatus{
		NodeCount:            int32(m.existing),
		SchedulableNodeCount: int32(m.eligible),
		Totals:               v1alpha1.SummaryTotals{Allocatable: m.alloc.Amounts(), Requested: m.requested.Amounts()},
		IgnoredLabelKeys:     append([]string(nil), m.policy.IgnoreKeys...),
		IgnoredLabelPrefixes: append([]string(nil), m.policy.IgnorePrefixes...),
		Groups:               boundGroups(groups, m.maxGroups, m.slots),
	}
	st.ContentHash = ContentHash(st)
	return st
}

// ContentHash digests everything in st but UpdateTime and ContentHash itself.
func ContentHash(st *v1alpha1.ClusterSummaryStatus) string {
	c := *st
	c.UpdateTime = v1alpha1.ClusterSummaryStatus{}.UpdateTime
	c.ContentHash = ""
	raw, err := json.Marshal(&c)
	if err != nil { // cannot happen for these types; make it visible rather than equal
		return "unhashable"
	}
	h := fnv.New64a()
	_, _ = h.Write(raw)
	return fmt.Sprintf("%016x", h.Sum64())
}

// slotAcc is one distinct free vector and the nodes that have it.
type slotAcc struct {
	free  Vector
	count int32
}

// buildGroup summarises one group in a single pass over its nodes.
func buildGroup(g *group, k int) v1alpha1.NodeGroup {
	var alloc, freeSum, maxFree Vector
	idx := make(map[vectorKey]int)
	var acc []slotAcc
	// The members are visited in map order; the output does not depend on it, since
	// selectSlots orders the distinct vectors totally.
	for _, n := range g.members {
		f := n.free().floorAtZero()
		alloc.Add(n.alloc)
		freeSum.Add(f)
		maxFree.maxInPlace(f)
		key := f.key()
		if i, ok := idx[key]; ok {
			acc[i].count++
		} else {
			idx[key] = len(acc)
			acc = append(acc, slotAcc{free: f, count: 1})
		}
	}
	return v1alpha1.NodeGroup{
		Labels:      maps.Clone(g.labels),
		Taints:      append([]corev1.Taint(nil), g.taints...),
		NodeCount:   int32(len(g.members)),
		Allocatable: alloc.Amounts(),
		Free:        freeSum.Amounts(),
		MaxFree:     maxFree.Amounts(),
		Slots:       selectSlots(acc, k, maxFree),
	}
}

// selectSlots keeps at most k of the distinct free vectors: first, for each resource,
// the vector with the most of it (so that no resource's best node is lost), then the
// rest by size, where size sums each resource's share of the group's maximum.
// Dominated vectors are kept when there is room, because their counts let the
// scheduler place several pods in a row before the next summary.
func selectSlots(acc []slotAcc, k int, maxFree Vector) []v1alpha1.FreeSlot {
	names := maxFree.Names(false)
	score := make([]float64, len(acc))
	for i := range acc {
		for _, n := range names {
			score[i] += float64(acc[i].free.Get(n)) / float64(maxFree.Get(n))
		}
	}
	order := make([]int, len(acc))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool {
		i, j := order[a], order[b]
		if score[i] != score[j] {
			return score[i] > score[j]
		}
		return lessVector(acc[i].free, acc[j].free)
	})
	chosen := make(map[int]bool, k)
	for _, n := range names {
		if len(chosen) >= k {
			break
		}
		best := -1
		for _, i := range order { // order breaks ties by size
			if best < 0 || acc[i].free.Get(n) > acc[best].free.Get(n) {
				best = i
			}
		}
		chosen[best] = true
	}
	for _, i := range order {
		if len(chosen) >= k {
			break
		}
		chosen[i] = true
	}
	out := make([]v1alpha1.FreeSlot, 0, len(chosen))
	for _, i := range order {
		if chosen[i] {
			out = append(out, v1alpha1.FreeSlot{Free: acc[i].free.Amounts(), Count: acc[i].count})
		}
	}
	return out
}

// lessVector is a total order on vectors, for deterministic output.
func lessVector(a, b Vector) bool {
	ka, kb := a.key(), b.key()
	switch {
	case ka.cpu != kb.cpu:
		return ka.cpu > kb.cpu
	case ka.mem != kb.mem:
		return ka.mem > kb.mem
	case ka.eph != kb.eph:
		return ka.eph > kb.eph
	case ka.pods != kb.pods:
		return ka.pods > kb.pods
	}
	return ka.scalars < kb.scalars
}

// boundGroups keeps the maxGroups-1 largest groups (by node count) and folds the rest
// into one merged group, so the summary's size does not grow with the variety of
// node labels.
func boundGroups(groups []v1alpha1.NodeGroup, maxGroups, k int) []v1alpha1.NodeGroup {
	if len(groups) <= maxGroups {
		return groups
	}
	sort.SliceStable(groups, func(i, j int) bool { return groups[i].NodeCount > groups[j].NodeCount })
	kept := groups[:maxGroups-1]
	return append(kept, mergeGroups(groups[maxGroups-1:], k))
}

// mergeGroups folds groups into one whose labels are their common labels and whose
// taints are the union of theirs: a pod matched against it may be refused where one
// of the original groups would have taken it, never the reverse for selectors that
// require labels (In, Exists) and for tolerations.
func mergeGroups(gs []v1alpha1.NodeGroup, k int) v1alpha1.NodeGroup {
	out := v1alpha1.NodeGroup{Labels: maps.Clone(gs[0].Labels), Merged: true}
	var alloc, free, maxFree Vector
	idx := map[vectorKey]int{}
	var acc []slotAcc
	seenTaint := map[corev1.Taint]bool{}
	for _, g := range gs {
		for key, v := range out.Labels {
			if gv, ok := g.Labels[key]; !ok || gv != v {
				delete(out.Labels, key)
			}
		}
		for _, t := range g.Taints {
			if !seenTaint[t] {
				seenTaint[t] = true
				out.Taints = append(out.Taints, t)
			}
		}
		out.NodeCount += g.NodeCount
		alloc.Add(VectorFromAmounts(g.Allocatable))
		free.Add(VectorFromAmounts(g.Free))
		maxFree.maxInPlace(VectorFromAmounts(g.MaxFree))
		for _, s := range g.Slots {
			v := VectorFromAmounts(s.Free)
			if i, ok := idx[v.key()]; ok {
				acc[i].count += s.Count
			} else {
				idx[v.key()] = len(acc)
				acc = append(acc, slotAcc{free: v, count: s.Count})
			}
		}
	}
	sortTaints(out.Taints)
	out.Allocatable, out.Free, out.MaxFree = alloc.Amounts(), free.Amounts(), maxFree.Amounts()
	out.Slots = selectSlots(acc, k, maxFree)
	return out
}
