package capacity

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/tensile-kube/tensile/pkg/constraints"
	"github.com/tensile-kube/tensile/pkg/vnodeident"
)

// LowerConstraints returns the constraints that pod must satisfy on a lower node. When
// the webhook saved them (constraints.Load) they are used as they are; otherwise they
// are the pod's own nodeSelector, required node affinity and tolerations minus what id
// says is about virtual nodes, as pkg/translate strips it from the lower pod. A
// malformed saved annotation is an error.
func LowerConstraints(pod *corev1.Pod, id vnodeident.Identity) (*constraints.Constraints, error) {
	saved, ok, err := constraints.Load(pod)
	if err != nil {
		return nil, err
	}
	if ok {
		return saved, nil
	}
	c := &constraints.Constraints{}
	for k, v := range pod.Spec.NodeSelector {
		if id.IsVirtualSelectorEntry(k, v) {
			continue
		}
		if c.NodeSelector == nil {
			c.NodeSelector = map[string]string{}
		}
		c.NodeSelector[k] = v
	}
	if a := pod.Spec.Affinity; a != nil && a.NodeAffinity != nil {
		c.NodeAffinity = id.LowerNodeSelector(a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution)
	}
	for _, t := range pod.Spec.Tolerations {
		if !id.IsVirtualToleration(t) {
			c.Tolerations = append(c.Tolerations, t)
		}
	}
	return c, nil
}

// relaxForSummary returns c without the requirements a summary built with policy
// cannot check: terms on ignored label keys and on node names (metadata.name). They
// are treated as satisfiable; the lower scheduler enforces them.
func relaxForSummary(c *constraints.Constraints, policy LabelPolicy) (map[string]string, *corev1.NodeSelector) {
	var sel map[string]string
	if len(c.NodeSelector) > 0 {
		if sel = policy.keep(c.NodeSelector); len(sel) == 0 {
			sel = nil
		}
	}
	ignored := func(r corev1.NodeSelectorRequirement) bool { return policy.Ignores(r.Key) }
	all := func(corev1.NodeSelectorRequirement) bool { return true }
	return sel, vnodeident.PruneNodeSelector(c.NodeAffinity, ignored, all)
}
