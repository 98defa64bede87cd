// Package placement keeps pods off virtual nodes whose lower cluster could not run
// them.
//
// It has two halves. The affinity half is pure: it merges (or removes) a
// `kubernetes.io/hostname NotIn [nodes]` requirement into a pod's required node
// affinity. The record half manages PlacementExclusion objects, which carry the
// excluded nodes of one pod controller with an expiry each, so that the admission
// webhook can add them to every new pod of that controller.
package placement

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// HostnameKey is the node label the exclusions match on. Every node carries it with
// its own name, and the webhook leaves it in the upper pod spec (it names upper nodes).
const HostnameKey = corev1.LabelHostname

// WithExcludedNodes returns a copy of aff whose required node affinity also rejects
// the given nodes: `kubernetes.io/hostname NotIn [nodes]` is merged into every node
// selector term, because the terms are ORed and an exclusion must hold in each of them.
// Other expressions and matchFields of a term are kept. Values accumulate into an
// existing NotIn on the hostname key instead of adding a second expression. With no
// terms at all, a single term holding only the exclusion is created. aff is not
// modified; the result is idempotent: applying it twice gives the same affinity.
func WithExcludedNodes(aff *corev1.Affinity, nodes []string) *corev1.Affinity {
	out := aff.DeepCopy()
	nodes = sortedUnique(nodes)
	if len(nodes) == 0 {
		return out
	}
	if out == nil {
		out = &corev1.Affinity{}
	}
	if out.NodeAffinity == nil {
		out.NodeAffinity = &corev1.NodeAffinity{}
	}
	na := out.NodeAffinity
	if na.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		na.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{}
	}
	req := na.RequiredDuringSchedulingIgnoredDuringExecution
	if len(req.NodeSelectorTerms) == 0 {
		req.NodeSelectorTerms = []corev1.NodeSelectorTerm{{}}
	}
	for i := range req.NodeSelectorTerms {
		req.NodeSelectorTerms[i].MatchExpressions = addNotIn(req.NodeSelectorTerms[i].MatchExpressions, nodes)
	}
	return out
}

// addNotIn merges nodes into the first hostname NotIn expression of exprs, or appends
// one. Further hostname NotIn expressions are folded into the first so repeated merges
// converge on one expression.
func addNotIn(exprs []corev1.NodeSelectorRequirement, nodes []string) []corev1.NodeSelectorRequirement {
	first := -1
	var kept []corev1.NodeSelectorRequirement
	for _, e := range exprs {
		if !isHostnameNotIn(e) {
			kept = append(kept, e)
			continue
		}
		if first < 0 {
			first = len(kept)
			kept = append(kept, e)
			continue
		}
		kept[first].Values = append(kept[first].Values, e.Values...)
	}
	if first < 0 {
		return append(kept, corev1.NodeSelectorRequirement{
			Key: HostnameKey, Operator: corev1.NodeSelectorOpNotIn, Values: nodes,
		})
	}
	kept[first].Values = sortedUnique(append(slices.Clone(kept[first].Values), nodes...))
	return kept
}

// WithoutExcludedNodes returns a copy of aff from which the given nodes are removed
// from every hostname NotIn expression. An expression left without values is dropped,
// and so is any structure left empty by that, except that a term which held only the
// exclusion is dropped only when other terms remain (an empty term would match no node,
// and dropping the last term would leave an invalid required affinity). It undoes
// WithExcludedNodes for exclusions that expired; aff is not modified.
func WithoutExcludedNodes(aff *corev1.Affinity, nodes []string) *corev1.Affinity {
	out := aff.DeepCopy()
	if len(nodes) == 0 || out == nil || out.NodeAffinity == nil ||
		out.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return out
	}
	req := out.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	var terms []corev1.NodeSelectorTerm
	for _, t := range req.NodeSelectorTerms {
		wasEmpty := len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0
		t.MatchExpressions = removeNotIn(t.MatchExpressions, nodes)
		if !wasEmpty && len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
			// The term constrained only the excluded nodes: it now accepts any node,
			// which makes the whole OR accept any node.
			req = nil
			break
		}
		terms = append(terms, t)
	}
	if req != nil {
		req.NodeSelectorTerms = terms
	}
	out.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = req
	return PruneAffinity(out)
}

// removeNotIn removes nodes from the hostname NotIn expressions of exprs.
func removeNotIn(exprs []corev1.NodeSelectorRequirement, nodes []string) []corev1.NodeSelectorRequirement {
	var kept []corev1.NodeSelectorRequirement
	for _, e := range exprs {
		if isHostnameNotIn(e) {
			e.Values = slices.DeleteFunc(slices.Clone(e.Values), func(v string) bool { return slices.Contains(nodes, v) })
			if len(e.Values) == 0 {
				continue
			}
		}
		kept = append(kept, e)
	}
	return kept
}

// PruneAffinity drops empty levels of aff (a node affinity with neither required nor
// preferred terms, an affinity with nothing left) so that an affinity holding nothing
// is nil. It modifies and returns aff.
func PruneAffinity(aff *corev1.Affinity) *corev1.Affinity {
	if aff == nil {
		return nil
	}
	if na := aff.NodeAffinity; na != nil && na.RequiredDuringSchedulingIgnoredDuringExecution == nil &&
		len(na.PreferredDuringSchedulingIgnoredDuringExecution) == 0 {
		aff.NodeAffinity = nil
	}
	if aff.NodeAffinity == nil && aff.PodAffinity == nil && aff.PodAntiAffinity == nil {
		return nil
	}
	return aff
}

// ExcludedNodes returns the nodes rejected by a hostname NotIn in every term of aff's
// required node affinity: the nodes the pod can never be placed on because of it.
func ExcludedNodes(aff *corev1.Affinity) []string {
	if aff == nil || aff.NodeAffinity == nil || aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return nil
	}
	var common []string
	for i, t := range aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		var inTerm []string
		for _, e := range t.MatchExpressions {
			if isHostnameNotIn(e) {
				inTerm = append(inTerm, e.Values...)
			}
		}
		if i == 0 {
			common = sortedUnique(inTerm)
			continue
		}
		common = slices.DeleteFunc(common, func(n string) bool { return !slices.Contains(inTerm, n) })
	}
	return common
}

func isHostnameNotIn(e corev1.NodeSelectorRequirement) bool {
	return e.Key == HostnameKey && e.Operator == corev1.NodeSelectorOpNotIn
}

// sortedUnique returns the distinct non-empty values of in, sorted, as a new slice.
func sortedUnique(in []string) []string {
	out := slices.DeleteFunc(slices.Clone(in), func(s string) bool { return s == "" })
	slices.Sort(out)
	return slices.Compact(out)
}
