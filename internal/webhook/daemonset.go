package webhook

import (
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/tensile-kube/tensile/pkg/vnodeident"
)

// virtualNodeExclusion is the node requirement that no virtual node satisfies: they
// all carry type=virtual-kubelet, and real nodes do not.
func virtualNodeExclusion() corev1.NodeSelectorRequirement {
	return corev1.NodeSelectorRequirement{
		Key: vnodeident.LabelType, Operator: corev1.NodeSelectorOpNotIn, Values: []string{vnodeident.ValueVirtualKubelet},
	}
}

// isVirtualNodeExclusion reports whether r is exactly virtualNodeExclusion.
func isVirtualNodeExclusion(r corev1.NodeSelectorRequirement) bool {
	return r.Key == vnodeident.LabelType && r.Operator == corev1.NodeSelectorOpNotIn &&
		slices.Equal(r.Values, []string{vnodeident.ValueVirtualKubelet})
}

// ExcludeVirtualNodes returns a copy of aff whose required node affinity matches no
// virtual node, and never modifies aff. Terms are ORed, so `type NotIn
// [virtual-kubelet]` is added to every term that lacks it; without a required node
// affinity, one term holding just that is created. Everything else (preferred terms,
// pod affinity and anti-affinity) is kept. Applying it again changes nothing.
//
// Two cases are left as they are, because adding the requirement would let in nodes
// they do not: a term with no requirements (it matches no node), and a selector with
// no terms (invalid; validation rejects it).
func ExcludeVirtualNodes(aff *corev1.Affinity) *corev1.Affinity {
	out := aff.DeepCopy()
	if out == nil {
		out = &corev1.Affinity{}
	}
	if out.NodeAffinity == nil {
		out.NodeAffinity = &corev1.NodeAffinity{}
	}
	req := out.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	if req == nil {
		out.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{virtualNodeExclusion()}}},
		}
		return out
	}
	for i := range req.NodeSelectorTerms {
		t := &req.NodeSelectorTerms[i]
		if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 || slices.ContainsFunc(t.MatchExpressions, isVirtualNodeExclusion) {
			continue
		}
		t.MatchExpressions = append(t.MatchExpressions, virtualNodeExclusion())
	}
	return out
}

// MutateDaemonSet returns a copy of ds whose pods stay off virtual nodes, with warnings
// for the requester, and never modifies ds. The DaemonSet controller picks the nodes
// for daemon pods from the pod template's node affinity, so with ExcludeVirtualNodes
// applied to it no pod is created on a virtual node and rollouts count real nodes
// only. A template annotated vnodeident.AnnotationDaemonSetPods=vnodeident.ValueAllow
// is left as it is. Mutating the result again changes nothing.
func MutateDaemonSet(ds *appsv1.DaemonSet) (*appsv1.DaemonSet, []string) {
	if ds == nil {
		return nil, nil
	}
	out := ds.DeepCopy()
	spec := &out.Spec.Template.Spec
	value, annotated := out.Spec.Template.Annotations[vnodeident.AnnotationDaemonSetPods]
	if vnodeident.DaemonSetPodsAllowed(out.Spec.Template.Annotations) {
		// The requirement is never removed: it may be the user's own. An earlier
		// admission without the annotation may have added it, so say so.
		if excludesVirtualNodes(spec.Affinity) {
			return out, []string{fmt.Sprintf("tensile webhook: the pod template opts in to virtual nodes (%s: %s) but its required node affinity still has %s NotIn [%s], perhaps added when it did not opt in; remove it to let its pods run there",
				vnodeident.AnnotationDaemonSetPods, vnodeident.ValueAllow, vnodeident.LabelType, vnodeident.ValueVirtualKubelet)}
		}
		return out, nil
	}
	var warnings []string
	if annotated {
		warnings = append(warnings, fmt.Sprintf("tensile webhook: pod template annotation %s: %q is not %q; the DaemonSet is kept off virtual nodes",
			vnodeident.AnnotationDaemonSetPods, value, vnodeident.ValueAllow))
	}
	if asksForVirtualNodes(spec) {
		warnings = append(warnings, fmt.Sprintf("tensile webhook: the pod template asks for virtual nodes, but DaemonSets run there only with the pod template annotation %s: %s; it is kept off virtual nodes",
			vnodeident.AnnotationDaemonSetPods, vnodeident.ValueAllow))
	}
	spec.Affinity = ExcludeVirtualNodes(spec.Affinity)
	return out, warnings
}

// excludesVirtualNodes reports whether some required node selector term of aff holds
// virtualNodeExclusion.
func excludesVirtualNodes(aff *corev1.Affinity) bool {
	if aff == nil || aff.NodeAffinity == nil || aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return false
	}
	return slices.ContainsFunc(aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms, func(t corev1.NodeSelectorTerm) bool {
		return slices.ContainsFunc(t.MatchExpressions, isVirtualNodeExclusion)
	})
}

// asksForVirtualNodes reports whether spec selects virtual nodes by their labels or
// tolerates their taint by key, which a DaemonSet meant for them does, and a
// tolerate-everything one (kube-proxy) does not. Hostname requirements are left out:
// vnodeident counts every hostname NotIn, which excludes nodes rather than asking for
// them.
func asksForVirtualNodes(spec *corev1.PodSpec) bool {
	id := vnodeident.Default(nil)
	for k, v := range spec.NodeSelector {
		if id.IsVirtualSelectorEntry(k, v) {
			return true
		}
	}
	if slices.ContainsFunc(spec.Tolerations, id.IsVirtualToleration) {
		return true
	}
	if a := spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		for _, t := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
			if slices.ContainsFunc(t.MatchExpressions, func(r corev1.NodeSelectorRequirement) bool {
				return r.Key != vnodeident.LabelHostname && id.IsVirtualLabel(r)
			}) {
				return true
			}
		}
	}
	return false
}
