package capacity

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/tensile-kube/tensile/pkg/constraints"
	"github.com/tensile-kube/tensile/pkg/vnodeident"
)

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
