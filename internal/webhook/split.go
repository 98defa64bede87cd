package webhook

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/tensile-kube/tensile/pkg/constraints"
	"github.com/tensile-kube/tensile/pkg/placement"
)

// splitWarning is returned when required node affinity terms mix virtual-node keys and
// lower-cluster keys across several terms, where the split cannot be exact.
const splitWarning = "tensile: required node affinity terms mixing virtual-node keys and lower-cluster keys " +
	"were split independently (upper: OR of the virtual-node parts, lower: OR of the rest), " +
	"which is looser than the original OR of ANDs"

// splitResult is a pod's scheduling constraints divided between the two clusters.
type splitResult struct {
	lower         constraints.Constraints
	upperSelector map[string]string
	upperAffinity *corev1.Affinity
	warnings      []string
}

// split divides the pod spec's nodeSelector and required node affinity by key: keys in
// ignore describe upper-cluster nodes (the virtual node) and stay upper, the rest are
// the lower cluster's. matchFields (node names) stay upper. Preferred node affinity and
// pod (anti)affinity stay upper untouched. Tolerations all go lower.
func split(spec *corev1.PodSpec, ignore map[string]bool) splitResult {
	var r splitResult
	for k, v := range spec.NodeSelector {
		if ignore[k] {
			r.upperSelector = setKey(r.upperSelector, k, v)
		} else {
			r.lower.NodeSelector = setKey(r.lower.NodeSelector, k, v)
		}
	}
	if len(spec.Tolerations) > 0 {
		r.lower.Tolerations = append([]corev1.Toleration(nil), spec.Tolerations...)
	}
	aff := spec.Affinity.DeepCopy()
	if aff == nil || aff.NodeAffinity == nil || aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		r.upperAffinity = aff
		return r
	}
	upper, lower, relaxed := splitRequired(aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution, ignore)
	aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = upper
	r.upperAffinity = placement.PruneAffinity(aff)
	r.lower.NodeAffinity = lower
	if relaxed {
		r.warnings = append(r.warnings, splitWarning)
	}
	return r
}

// splitRequired divides each term of a required node selector into its upper part
// (ignored keys and matchFields) and its lower part. Terms are ORed, so a side on which
// some term keeps nothing accepts every node and is dropped (nil). Empty original terms
// match no node and are skipped; if all are empty, the selector stays upper unchanged so
// the pod remains unschedulable where the user can see why. relaxed reports that the
// split is looser than the original (several terms, some mixing both sides).
func splitRequired(req *corev1.NodeSelector, ignore map[string]bool) (upper, lower *corev1.NodeSelector, relaxed bool) {
	var upperTerms, lowerTerms []corev1.NodeSelectorTerm
	upperAny, lowerAny := false, false
	mixed, kept := false, 0
	for _, t := range req.NodeSelectorTerms {
		if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
			continue
		}
		kept++
		u := corev1.NodeSelectorTerm{MatchFields: t.MatchFields}
		var l corev1.NodeSelectorTerm
		for _, e := range t.MatchExpressions {
			if ignore[e.Key] {
				u.MatchExpressions = append(u.MatchExpressions, e)
			} else {
				l.MatchExpressions = append(l.MatchExpressions, e)
			}
		}
		uEmpty := len(u.MatchExpressions) == 0 && len(u.MatchFields) == 0
		lEmpty := len(l.MatchExpressions) == 0
		mixed = mixed || (!uEmpty && !lEmpty)
		if uEmpty {
			upperAny = true
		} else {
			upperTerms = append(upperTerms, u)
		}
		if lEmpty {
			lowerAny = true
		} else {
			lowerTerms = append(lowerTerms, l)
		}
	}
	if kept == 0 {
		return req.DeepCopy(), nil, false
	}
	if !upperAny {
		upper = &corev1.NodeSelector{NodeSelectorTerms: upperTerms}
	}
	if !lowerAny {
		lower = &corev1.NodeSelector{NodeSelectorTerms: lowerTerms}
	}
	return upper, lower, mixed && kept > 1
}

func setKey(m map[string]string, k, v string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}

// ignoreSet turns a key list into a set.
func ignoreSet(keys []string) map[string]bool {
	s := make(map[string]bool, len(keys))
	for _, k := range keys {
		s[k] = true
	}
	return s
}
