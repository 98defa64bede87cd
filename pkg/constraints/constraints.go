// Package constraints defines how a pod's lower-cluster scheduling constraints travel
// through the upper cluster.
//
// The webhook moves the constraints that must apply in the lower cluster (nodeSelector,
// required node affinity, tolerations) out of the upper pod spec, so the upper scheduler
// does not try to satisfy them against the virtual node. It saves them in one
// annotation; the virtual node restores them when it creates the pod below, and the
// multi-scheduler plugin reads them to ask "can some lower node take this pod?".
package constraints

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// Annotation is the key under which the saved constraints are stored, as JSON.
const Annotation = "tensile.dev/lower-constraints"

// Constraints are the scheduling fields that apply in the lower cluster.
type Constraints struct {
	// NodeSelector is the pod's original nodeSelector.
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// NodeAffinity holds the original required node affinity terms (those whose keys
	// are not on the webhook's ignore list). Preferred terms stay in the upper spec.
	NodeAffinity *corev1.NodeSelector `json:"nodeAffinity,omitempty"`
	// Tolerations are the original tolerations.
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
}

// IsEmpty reports whether c constrains nothing.
func (c *Constraints) IsEmpty() bool {
	return c == nil || (len(c.NodeSelector) == 0 && c.NodeAffinity == nil && len(c.Tolerations) == 0)
}

// Load returns the constraints saved on pod. ok is false when the pod carries none.
// A malformed annotation is an error: callers must not guess what it meant.
func Load(pod *corev1.Pod) (c *Constraints, ok bool, err error) {
	raw, found := pod.Annotations[Annotation]
	if !found {
		return nil, false, nil
	}
	c = &Constraints{}
	if err := json.Unmarshal([]byte(raw), c); err != nil {
		return nil, true, fmt.Errorf("annotation %s on pod %s/%s is not valid: %w", Annotation, pod.Namespace, pod.Name, err)
	}
	return c, true, nil
}

// Save stores c on pod, replacing any saved constraints.
func Save(pod *corev1.Pod, c *Constraints) error {
	raw, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encoding lower constraints: %w", err)
	}
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[Annotation] = string(raw)
	return nil
}
