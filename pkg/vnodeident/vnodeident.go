// Package vnodeident tells the parts of a pod's scheduling constraints that are about
// the upper cluster's virtual nodes from those about the lower cluster's nodes.
//
// A pod reaches a virtual node through the labels every virtual node carries, through
// its name, and by tolerating the provider taint. None of that means anything in the
// lower cluster: no lower node has those labels, names or taint. Three places need
// the same answer: the virtual node strips these parts from the lower pod
// (internal/translate), the scheduler and descheduler plugins leave them out of the lower
// fit check (pkg/capacity), and the webhook keeps them in the upper spec (internal/webhook,
// whose default ignore list is UpperLabelKeys). If they disagreed, the fit check would
// judge a pod other than the one the lower cluster receives.
package vnodeident

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The well-known vocabulary of virtual nodes. internal/virtualnode registers each node with
// these labels and taint; the readers below must use the same values.
const (
	// LabelType marks a virtual node, with ValueVirtualKubelet.
	LabelType = "type"
	// ValueVirtualKubelet is the value of LabelType on virtual nodes.
	ValueVirtualKubelet = "virtual-kubelet"
	// LabelRole is the role label virtual nodes carry, with ValueAgent.
	LabelRole = "kubernetes.io/role"
	// ValueAgent is the value of LabelRole on virtual nodes.
	ValueAgent = "agent"
	// LabelHostname names a node; virtual nodes carry their own name in it.
	LabelHostname = corev1.LabelHostname
	// FieldNodeName is the only field a node selector's matchFields can name.
	FieldNodeName = metav1.ObjectNameField
	// TaintProvider is the key of the NoSchedule taint that keeps ordinary pods off
	// virtual nodes.
	TaintProvider = "virtual-kubelet.io/provider"
	// AnnotationDaemonSetPods, set to ValueAllow on a DaemonSet's pod template, lets
	// its pods run on virtual nodes (in the lower clusters). Without it the webhook
	// keeps the DaemonSet off virtual nodes and the virtual node refuses its pods: a
	// DaemonSet that tolerates every taint (kube-proxy, CNI and CSI node plugins, log
	// shippers) is meant for the upper cluster's own nodes.
	AnnotationDaemonSetPods = "tensile.dev/daemonset-pods"
	// ValueAllow is the opt-in value of AnnotationDaemonSetPods.
	ValueAllow = "allow"
)

// DaemonSetPodsAllowed reports whether a DaemonSet's pod template annotations (or its
// pods', which carry them) opt in to running on virtual nodes. The webhook and the
// virtual node decide by it alike.
func DaemonSetPodsAllowed(annotations map[string]string) bool {
	return annotations[AnnotationDaemonSetPods] == ValueAllow
}

// Labels returns the labels every virtual node carries, as a new map: callers that
// recognise virtual nodes by more labels (a configured selector) add to it.
func Labels() map[string]string {
	return map[string]string{LabelType: ValueVirtualKubelet, LabelRole: ValueAgent}
}

// UpperLabelKeys returns, in a new slice, the node label keys on which a requirement
// can be about virtual nodes: the keys of Labels and the hostname. The webhook sends
// requirements on other keys down whole, so with this list it never sends down one
// that Default would call virtual.
func UpperLabelKeys() []string {
	return []string{LabelType, LabelRole, LabelHostname}
}

// Identity says how to recognise virtual nodes in a pod's scheduling constraints. The
// zero value recognises nothing.
type Identity struct {
	// Labels are the labels every virtual node carries (key to value).
	Labels map[string]string
	// IsVirtualNodeName reports whether a node name is a virtual node's. Nil means no
	// name is.
	IsVirtualNodeName func(name string) bool
	// TolerationKeys are taint keys only virtual nodes carry.
	TolerationKeys []string
}

// Default is the project's convention (Labels, TaintProvider) with the caller's
// knowledge of virtual node names: all of them for the scheduler plugin, nil when
// unknown.
func Default(isVirtualNodeName func(string) bool) Identity {
	return Identity{Labels: Labels(), IsVirtualNodeName: isVirtualNodeName, TolerationKeys: []string{TaintProvider}}
}

// ForNode is Default for a virtual node that knows no other virtual node's name than
// its own.
func ForNode(name string) Identity {
	return Default(func(n string) bool { return n == name })
}

// IsVirtualLabel reports whether a node label requirement (nodeSelectorTerms'
// matchExpressions) is about virtual nodes.
//
// On a virtual-node label, In with the virtual nodes' value and Exists are: they are
// how the pod got onto a virtual node. NotIn and DoesNotExist are not: they hold for
// lower nodes too, and mean the same below when the lower cluster has virtual nodes
// of its own. A hostname requirement is judged by the names it lists (see
// IsVirtualField).
func (id Identity) IsVirtualLabel(r corev1.NodeSelectorRequirement) bool {
	if want, ok := id.Labels[r.Key]; ok {
		switch r.Operator {
		case corev1.NodeSelectorOpExists:
			return true
		case corev1.NodeSelectorOpIn:
			return slices.Contains(r.Values, want)
		}
		return false
	}
	return r.Key == LabelHostname && id.namesVirtual(r)
}

// IsVirtualField reports whether a node field requirement (matchFields) is about
// virtual nodes.
//
// In naming a virtual node is: it is an OR, which the pod satisfied by being on that
// node, so nothing of it is left for the lower node (the other names do not constrain
// it). NotIn is, whatever it names: the pod satisfied it in the upper cluster, where
// those names are, and it is how the descheduler excludes virtual nodes, whose names a
// single virtual node cannot recognise. In naming no node that id knows as virtual
// stays: it can only be meant for lower nodes.
func (id Identity) IsVirtualField(r corev1.NodeSelectorRequirement) bool {
	return r.Key == FieldNodeName && id.namesVirtual(r)
}

// namesVirtual applies the node-name rule of IsVirtualField to r's operator and values.
func (id Identity) namesVirtual(r corev1.NodeSelectorRequirement) bool {
	switch r.Operator {
	case corev1.NodeSelectorOpNotIn:
		return true
	case corev1.NodeSelectorOpIn:
		return id.IsVirtualNodeName != nil && slices.ContainsFunc(r.Values, id.IsVirtualNodeName)
	}
	return false
}

// IsVirtualSelectorEntry reports whether a nodeSelector entry is about virtual nodes;
// an entry is the requirement key In [value].
func (id Identity) IsVirtualSelectorEntry(key, value string) bool {
	return id.IsVirtualLabel(corev1.NodeSelectorRequirement{Key: key, Operator: corev1.NodeSelectorOpIn, Values: []string{value}})
}

// IsVirtualToleration reports whether a toleration is of a taint only virtual nodes
// carry.
func (id Identity) IsVirtualToleration(t corev1.Toleration) bool {
	return slices.Contains(id.TolerationKeys, t.Key)
}

// LowerTerm returns t without its requirements about virtual nodes, and false when
// nothing is left: the term was only about virtual nodes, which the pod's node
// satisfies, so below it lets every node in. Requirements kept share their values
// with t.
func (id Identity) LowerTerm(t corev1.NodeSelectorTerm) (corev1.NodeSelectorTerm, bool) {
	return pruneTerm(t, id.IsVirtualLabel, id.IsVirtualField)
}

// LowerNodeSelector returns the required node selector a lower node must satisfy: ns
// minus what is about virtual nodes (PruneNodeSelector with IsVirtualLabel and
// IsVirtualField).
func (id Identity) LowerNodeSelector(ns *corev1.NodeSelector) *corev1.NodeSelector {
	return PruneNodeSelector(ns, id.IsVirtualLabel, id.IsVirtualField)
}

// PruneNodeSelector returns ns without the label and field requirements that dropLabel
// and dropField select. Terms are ORed, so when a term loses all its requirements this
// way the whole selector lets every node in and nil is returned; dropping just that
// term would make the result stricter than ns. A term empty from the start keeps its
// API meaning (it matches no node) and stays. ns is not modified.
func PruneNodeSelector(ns *corev1.NodeSelector, dropLabel, dropField func(corev1.NodeSelectorRequirement) bool) *corev1.NodeSelector {
	if ns == nil || len(ns.NodeSelectorTerms) == 0 {
		return nil
	}
	out := &corev1.NodeSelector{NodeSelectorTerms: make([]corev1.NodeSelectorTerm, 0, len(ns.NodeSelectorTerms))}
	for _, t := range ns.NodeSelectorTerms {
		if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
			out.NodeSelectorTerms = append(out.NodeSelectorTerms, t)
			continue
		}
		pruned, ok := pruneTerm(t, dropLabel, dropField)
		if !ok {
			return nil
		}
		out.NodeSelectorTerms = append(out.NodeSelectorTerms, pruned)
	}
	return out
}

// pruneTerm returns t without the requirements drop selects, and whether any is left.
func pruneTerm(t corev1.NodeSelectorTerm, dropLabel, dropField func(corev1.NodeSelectorRequirement) bool) (corev1.NodeSelectorTerm, bool) {
	var out corev1.NodeSelectorTerm
	for _, r := range t.MatchExpressions {
		if !dropLabel(r) {
			out.MatchExpressions = append(out.MatchExpressions, r)
		}
	}
	for _, r := range t.MatchFields {
		if !dropField(r) {
			out.MatchFields = append(out.MatchFields, r)
		}
	}
	return out, len(out.MatchExpressions) > 0 || len(out.MatchFields) > 0
}
