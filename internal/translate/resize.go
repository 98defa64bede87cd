package translate

import (
	"encoding/json"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ResizeLower sets the resources of lower's containers and init containers (sidecars
// can be resized too) to those of the upper pod's containers of the same name, for the
// lower pods/resize subresource. It reports whether anything changed; lower is
// modified in place.
func ResizeLower(lower, upper *corev1.Pod) bool {
	if !ResizeWanted(upper, lower) {
		return false
	}
	changed := false
	apply := func(dst []corev1.Container, src []corev1.Container) {
		for i := range dst {
			u, ok := containerNamed(src, dst[i].Name)
			if ok && !apiequality.Semantic.DeepEqual(dst[i].Resources, u.Resources) {
				dst[i].Resources = *u.Resources.DeepCopy()
				changed = true
			}
		}
	}
	apply(lower.Spec.Containers, upper.Spec.Containers)
	apply(lower.Spec.InitContainers, upper.Spec.InitContainers)
	return changed
}

// ResizeWanted reports whether some container of lower (or init container) has other
// resources than the upper pod's container of the same name. It copies nothing.
func ResizeWanted(upper, lower *corev1.Pod) bool {
	for _, pair := range [][2][]corev1.Container{
		{upper.Spec.Containers, lower.Spec.Containers}, {upper.Spec.InitContainers, lower.Spec.InitContainers},
	} {
		for i := range pair[1] {
			for j := range pair[0] {
				if pair[0][j].Name == pair[1][i].Name && !apiequality.Semantic.DeepEqual(pair[0][j].Resources, pair[1][i].Resources) {
					return true
				}
			}
		}
	}
	return false
}

// LowerObserved reports whether the lower pod runs the upper pod's current spec: what
// the virtual node forwards (images, resources, ephemeral containers) is applied below,
// and the lower kubelet has observed the lower pod's generation (a kubelet that does not
// report status.observedGeneration counts as having observed it). Only then does the
// upper pod's status.observedGeneration move to the upper generation.
func LowerObserved(upper, lower *corev1.Pod) bool {
	if ResizeWanted(upper, lower) || len(MissingEphemeralContainers(upper, lower)) > 0 {
		return false
	}
	for _, pair := range [][2][]corev1.Container{
		{upper.Spec.Containers, lower.Spec.Containers}, {upper.Spec.InitContainers, lower.Spec.InitContainers},
	} {
		for _, u := range pair[0] {
			if l, ok := containerNamed(pair[1], u.Name); !ok || l.Image != u.Image {
				return false
			}
		}
	}
	og := lower.Status.ObservedGeneration
	return og == 0 || og >= lower.Generation
}

func containerNamed(cs []corev1.Container, name string) (corev1.Container, bool) {
	for _, c := range cs {
		if c.Name == name {
			return c, true
		}
	}
	return corev1.Container{}, false
}

// AnnotationResizeRefused, on a lower pod, records that the lower API server refused
// the last resize (the pod does not fit its lower node): JSON of ResizeRefusal. A
// kubelet reports such a resize as PodResizePending=True/Infeasible; the lower
// kubelet never sees it, so the virtual node reports it above from this record for as
// long as the upper resources differ from the lower ones.
const AnnotationResizeRefused = "tensile.dev/resize-refused"

// ResizeRefusal is the lower API server's refusal of a resize, and when it happened.
type ResizeRefusal struct {
	At      metav1.Time `json:"at"`
	Message string      `json:"message"`
}

// ResizeRefusalOf returns the refusal recorded on a lower pod, if any.
func ResizeRefusalOf(lower *corev1.Pod) (ResizeRefusal, bool) {
	v, ok := lower.Annotations[AnnotationResizeRefused]
	if !ok {
		return ResizeRefusal{}, false
	}
	var r ResizeRefusal
	if err := json.Unmarshal([]byte(v), &r); err != nil {
		return ResizeRefusal{}, false
	}
	return r, true
}

// Encode returns the annotation value of r.
func (r ResizeRefusal) Encode() string {
	b, _ := json.Marshal(r) // a time and a string always marshal
	return string(b)
}

// ReasonInfeasible is the reason of PodResizePending for a resize the node cannot take.
const ReasonInfeasible = corev1.PodReasonInfeasible

// withResizeRefusal adds PodResizePending=True/Infeasible to conds while a refused
// resize is still wanted above (the upper resources differ from the lower ones).
func withResizeRefusal(upper, lower *corev1.Pod, conds []corev1.PodCondition) []corev1.PodCondition {
	r, ok := ResizeRefusalOf(lower)
	if !ok || !ResizeWanted(upper, lower) {
		return conds
	}
	c := corev1.PodCondition{Type: corev1.PodResizePending, Status: corev1.ConditionTrue, Reason: ReasonInfeasible,
		Message: r.Message, LastTransitionTime: r.At, ObservedGeneration: upper.Generation}
	if i := slices.IndexFunc(conds, func(c corev1.PodCondition) bool { return c.Type == corev1.PodResizePending }); i >= 0 {
		conds[i] = c
		return conds
	}
	return append(conds, c)
}
