package constraints

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/tensile-kube/tensile/pkg/vnodeident"
)

// Lower returns the node constraints the lower pod of pod carries: the one rule that
// both the virtual node (internal/translate, which writes them into the lower pod) and the
// fit check of the scheduler and descheduler plugins (pkg/capacity) follow, so that
// the check judges the pod the lower cluster receives.
//
// They are the pod's own nodeSelector, required node affinity and tolerations minus
// what id says is about virtual nodes (what kept the webhook's hands off, such as a
// required "type NotIn [gpu]", included), merged with what the webhook saved (Load):
// saved selector entries are added and win on equal keys, saved required terms
// replace the pod's own, saved tolerations are appended unless an equal one is there.
// A saved affinity without terms replaces nothing: it could match no node. Empty
// parts are nil. The result shares no memory with pod. A malformed saved annotation
// is an error.
func Lower(pod *corev1.Pod, id vnodeident.Identity) (*Constraints, error) {
	saved, _, err := Load(pod)
	if err != nil {
		return nil, err
	}
	if saved == nil {
		saved = &Constraints{}
	}
	spec := &pod.Spec
	c := &Constraints{}
	for k, v := range spec.NodeSelector {
		if !id.IsVirtualSelectorEntry(k, v) {
			c.NodeSelector = setEntry(c.NodeSelector, k, v)
		}
	}
	for k, v := range saved.NodeSelector {
		c.NodeSelector = setEntry(c.NodeSelector, k, v)
	}
	switch {
	case saved.NodeAffinity != nil && len(saved.NodeAffinity.NodeSelectorTerms) > 0:
		c.NodeAffinity = saved.NodeAffinity // decoded for this call: not shared
	case spec.Affinity != nil && spec.Affinity.NodeAffinity != nil:
		c.NodeAffinity = id.LowerNodeSelector(spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution).DeepCopy()
	}
	for _, t := range spec.Tolerations {
		if !id.IsVirtualToleration(t) {
			c.Tolerations = append(c.Tolerations, *t.DeepCopy())
		}
	}
	for _, t := range saved.Tolerations {
		if !HasToleration(c.Tolerations, t) {
			c.Tolerations = append(c.Tolerations, t)
		}
	}
	return c, nil
}

func setEntry(m map[string]string, k, v string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}

// HasToleration reports whether list holds a toleration that tolerates what t does,
// for as long.
func HasToleration(list []corev1.Toleration, t corev1.Toleration) bool {
	for i := range list {
		if list[i].MatchToleration(&t) && ptr.Equal(list[i].TolerationSeconds, t.TolerationSeconds) {
			return true
		}
	}
	return false
}
