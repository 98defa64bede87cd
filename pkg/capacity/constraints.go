package capacity

import (
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/tensile-kube/tensile/pkg/constraints"
)

// VirtualNodeIdentity says which parts of a pod's scheduling constraints are about the
// virtual node itself (they got the pod onto the virtual node) rather than about the
// lower nodes.
type VirtualNodeIdentity struct {
	// Labels are the labels every virtual node carries; a nodeSelector entry or an In or
	// Exists requirement on them selects the virtual node.
	Labels map[string]string
	// IsVirtualNodeName reports whether a node name is a virtual node's; kubernetes.io/hostname
	// and metadata.name terms naming one are about the virtual node. Nil means none is.
	IsVirtualNodeName func(name string) bool
	// TolerationKeys are taint keys only virtual nodes carry.
	TolerationKeys []string
}

// DefaultVirtualNodeIdentity is the project's convention: virtual nodes are labelled
// type=virtual-kubelet and kubernetes.io/role=agent and tainted
// virtual-kubelet.io/provider.
func DefaultVirtualNodeIdentity(isVirtualNodeName func(string) bool) VirtualNodeIdentity {
	return VirtualNodeIdentity{
		Labels:            map[string]string{"type": "virtual-kubelet", "kubernetes.io/role": "agent"},
		IsVirtualNodeName: isVirtualNodeName,
		TolerationKeys:    []string{"virtual-kubelet.io/provider"},
	}
}

// LowerConstraints returns the constraints that pod must satisfy on a lower node. When
// the webhook saved them (constraints.Load) they are used as they are; otherwise they
// are the pod's own nodeSelector, required node affinity and tolerations minus what is
// about the virtual node. A malformed saved annotation is an error.
func LowerConstraints(pod *corev1.Pod, id VirtualNodeIdentity) (*constraints.Constraints, error) {
	saved, ok, err := constraints.Load(pod)
	if err != nil {
		return nil, err
	}
	if ok {
		return saved, nil
	}
	c := &constraints.Constraints{}
	for k, v := range pod.Spec.NodeSelector {
		if id.selectsVirtual(k, corev1.NodeSelectorOpIn, []string{v}) {
			continue
		}
		if c.NodeSelector == nil {
			c.NodeSelector = map[string]string{}
		}
		c.NodeSelector[k] = v
	}
	if a := pod.Spec.Affinity; a != nil && a.NodeAffinity != nil {
		c.NodeAffinity = pruneSelector(a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution,
			id.pruneLabelRequirement, id.pruneFieldRequirement)
	}
	for _, t := range pod.Spec.Tolerations {
		if !slices.Contains(id.TolerationKeys, t.Key) {
			c.Tolerations = append(c.Tolerations, t)
		}
	}
	return c, nil
}

// selectsVirtual reports whether a requirement (key op values) is one that picks
// virtual nodes.
func (id VirtualNodeIdentity) selectsVirtual(key string, op corev1.NodeSelectorOperator, values []string) bool {
	if want, ok := id.Labels[key]; ok {
		return op == corev1.NodeSelectorOpExists || (op == corev1.NodeSelectorOpIn && slices.Contains(values, want))
	}
	if key == corev1.LabelHostname && op == corev1.NodeSelectorOpIn && id.IsVirtualNodeName != nil {
		for _, v := range values {
			if !id.IsVirtualNodeName(v) {
				return false
			}
		}
		return len(values) > 0
	}
	return false
}

// pruneLabelRequirement drops requirements on virtual-node labels and strips virtual
// node names from hostname lists.
func (id VirtualNodeIdentity) pruneLabelRequirement(r corev1.NodeSelectorRequirement) (corev1.NodeSelectorRequirement, bool) {
	if id.selectsVirtual(r.Key, r.Operator, r.Values) {
		return r, false
	}
	if r.Key == corev1.LabelHostname {
		return id.dropVirtualNames(r)
	}
	return r, true
}

// pruneFieldRequirement strips virtual node names from metadata.name lists.
func (id VirtualNodeIdentity) pruneFieldRequirement(r corev1.NodeSelectorRequirement) (corev1.NodeSelectorRequirement, bool) {
	if r.Key == "metadata.name" {
		return id.dropVirtualNames(r)
	}
	return r, true
}

// dropVirtualNames removes virtual node names from an In requirement; the requirement
// goes when it named only virtual nodes.
func (id VirtualNodeIdentity) dropVirtualNames(r corev1.NodeSelectorRequirement) (corev1.NodeSelectorRequirement, bool) {
	if r.Operator != corev1.NodeSelectorOpIn || id.IsVirtualNodeName == nil {
		return r, true
	}
	kept := make([]string, 0, len(r.Values))
	for _, v := range r.Values {
		if !id.IsVirtualNodeName(v) {
			kept = append(kept, v)
		}
	}
	if len(kept) == 0 {
		return r, false
	}
	r.Values = kept
	return r, true
}

// requirementFilter rewrites or drops (false) one requirement.
type requirementFilter func(corev1.NodeSelectorRequirement) (corev1.NodeSelectorRequirement, bool)

// pruneSelector applies the filters to every term of ns. A term that loses all its
// requirements this way no longer restricts anything, and since terms are ORed the
// whole selector then matches every node: nil is returned. A term that was empty to
// begin with keeps its API meaning (it matches nothing).
func pruneSelector(ns *corev1.NodeSelector, onLabel, onField requirementFilter) *corev1.NodeSelector {
	if ns == nil {
		return nil
	}
	out := &corev1.NodeSelector{NodeSelectorTerms: make([]corev1.NodeSelectorTerm, 0, len(ns.NodeSelectorTerms))}
	for _, term := range ns.NodeSelectorTerms {
		if len(term.MatchExpressions) == 0 && len(term.MatchFields) == 0 {
			out.NodeSelectorTerms = append(out.NodeSelectorTerms, term)
			continue
		}
		var nt corev1.NodeSelectorTerm
		for _, r := range term.MatchExpressions {
			if r2, keep := onLabel(r); keep {
				nt.MatchExpressions = append(nt.MatchExpressions, r2)
			}
		}
		for _, r := range term.MatchFields {
			if r2, keep := onField(r); keep {
				nt.MatchFields = append(nt.MatchFields, r2)
			}
		}
		if len(nt.MatchExpressions) == 0 && len(nt.MatchFields) == 0 {
			return nil
		}
		out.NodeSelectorTerms = append(out.NodeSelectorTerms, nt)
	}
	return out
}

// relaxForSummary returns c without the requirements a summary built with policy
// cannot check: terms on ignored label keys and on node names (metadata.name). They
// are treated as satisfiable; the lower scheduler enforces them.
func relaxForSummary(c *constraints.Constraints, policy LabelPolicy) (map[string]string, *corev1.NodeSelector) {
	var sel map[string]string
	for k, v := range c.NodeSelector {
		if !policy.Ignores(k) {
			if sel == nil {
				sel = make(map[string]string, len(c.NodeSelector))
			}
			sel[k] = v
		}
	}
	onLabel := func(r corev1.NodeSelectorRequirement) (corev1.NodeSelectorRequirement, bool) {
		return r, !policy.Ignores(r.Key)
	}
	dropAll := func(r corev1.NodeSelectorRequirement) (corev1.NodeSelectorRequirement, bool) { return r, false }
	return sel, pruneSelector(c.NodeAffinity, onLabel, dropAll)
}
