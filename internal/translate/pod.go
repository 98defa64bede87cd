package translate

import (
	"fmt"
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"k8s.io/utils/ptr"

	"github.com/tensile-kube/tensile/pkg/constraints"
	"github.com/tensile-kube/tensile/pkg/vnodeident"
)

// PodOptions parameterises PodToLower.
type PodOptions struct {
	// Owner marks the lower pod as ours.
	Owner Owner
	// LowerServiceAccountToken lets a pod that has a service-account token above get
	// one below: a token of the lower cluster's ServiceAccount of the same name, mounted
	// by the lower cluster. Off: lower pods get no token at all. Upper tokens never go
	// down either way.
	LowerServiceAccountToken bool
	// HasPriorityClass reports whether the lower cluster has a PriorityClass; nil means
	// none exists, so the pod's class is dropped rather than rejected below.
	HasPriorityClass func(name string) bool
}

// PodToLower returns the pod to create in the lower cluster for an upper pod bound to the
// virtual node. It fails only when the saved lower constraints are malformed.
func PodToLower(upper *corev1.Pod, opts PodOptions) (*corev1.Pod, error) {
	id := vnodeident.ForNode(opts.Owner.VirtualNode)
	lowerConstraints, err := constraints.Lower(upper, id)
	if err != nil {
		return nil, err
	}
	lower := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:        upper.Name,
			Namespace:   opts.Owner.Namespaces.ToLower(upper.Namespace),
			Labels:      maps.Clone(upper.Labels),
			Annotations: maps.Clone(upper.Annotations),
		},
		Spec: *upper.Spec.DeepCopy(),
	}
	delete(lower.Annotations, constraints.Annotation)
	opts.Owner.Mark(lower, upper.UID)

	spec := &lower.Spec
	spec.NodeName = ""
	spec.EphemeralContainers = nil
	spec.SchedulerName = "" // the lower cluster's default scheduler places it
	// Admission below resolves both from the lower class; the upper values (filled in
	// from the upper class) would be rejected when they differ.
	spec.Priority = nil
	spec.PreemptionPolicy = nil
	// The RuntimeClass admission sets the overhead from the lower class of that name and
	// rejects a pod whose overhead differs from it: the upper class's value is not the
	// lower cluster's to take.
	spec.Overhead = nil
	if spec.PriorityClassName != "" && (opts.HasPriorityClass == nil || !opts.HasPriorityClass(spec.PriorityClassName)) {
		spec.PriorityClassName = ""
	}
	setNodeConstraints(spec, lowerConstraints, id)
	lowerServiceAccountToken(spec, opts.LowerServiceAccountToken)
	return lower, nil
}

// setNodeConstraints gives spec the lower pod's node constraints c (constraints.Lower,
// the rule the fit check follows too) in place of the upper ones, and keeps of the
// preferred node affinity what id does not call virtual: below, a preference for the
// virtual node would match no node.
func setNodeConstraints(spec *corev1.PodSpec, c *constraints.Constraints, id vnodeident.Identity) {
	spec.NodeSelector = c.NodeSelector
	spec.Tolerations = c.Tolerations
	var preferred []corev1.PreferredSchedulingTerm
	if spec.Affinity != nil && spec.Affinity.NodeAffinity != nil {
		for _, p := range spec.Affinity.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			if term, ok := id.LowerTerm(p.Preference); ok {
				p.Preference = term
				preferred = append(preferred, p)
			}
		}
	}
	if c.NodeAffinity == nil && preferred == nil {
		if spec.Affinity != nil {
			spec.Affinity.NodeAffinity = nil
			if *spec.Affinity == (corev1.Affinity{}) {
				spec.Affinity = nil
			}
		}
		return
	}
	if spec.Affinity == nil {
		spec.Affinity = &corev1.Affinity{}
	}
	spec.Affinity.NodeAffinity = &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution:  c.NodeAffinity,
		PreferredDuringSchedulingIgnoredDuringExecution: preferred,
	}
}

// lowerServiceAccountToken replaces the upper token by a lower one, or by none. The
// volume the upper admission added (kube-api-access-*) goes, with its mounts: it would
// request a token for the upper pod's identity. When lowerToken is set and the upper pod
// had that volume, automount stays as the upper pod had it, so the lower admission
// mounts a token of the lower ServiceAccount instead; volumes the pod declares itself
// (a token for another audience) stay and get lower tokens too. Otherwise automount is
// off and every token volume goes.
func lowerServiceAccountToken(spec *corev1.PodSpec, lowerToken bool) {
	dropped := map[string]bool{}
	volumes := spec.Volumes[:0:0]
	for _, v := range spec.Volumes {
		if isAdmissionTokenVolume(v) || (!lowerToken && isServiceAccountTokenVolume(v)) {
			dropped[v.Name] = true
			continue
		}
		volumes = append(volumes, v)
	}
	spec.Volumes = volumes
	if len(volumes) == 0 {
		spec.Volumes = nil
	}
	for _, list := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range list {
			list[i].VolumeMounts = withoutMounts(list[i].VolumeMounts, dropped)
		}
	}
	hadToken := false
	for name := range dropped {
		hadToken = hadToken || strings.HasPrefix(name, admissionTokenVolumePrefix)
	}
	if !lowerToken || !hadToken {
		off := false
		spec.AutomountServiceAccountToken = &off
	}
	spec.DeprecatedServiceAccount = ""
}

// admissionTokenVolumePrefix begins the name of the token volume that the
// ServiceAccount admission plugin adds to pods.
const admissionTokenVolumePrefix = "kube-api-access-"

func isAdmissionTokenVolume(v corev1.Volume) bool {
	return strings.HasPrefix(v.Name, admissionTokenVolumePrefix) && isServiceAccountTokenVolume(v)
}

func isServiceAccountTokenVolume(v corev1.Volume) bool {
	if v.Projected == nil {
		return false
	}
	for _, s := range v.Projected.Sources {
		if s.ServiceAccountToken != nil {
			return true
		}
	}
	return false
}

func withoutMounts(mounts []corev1.VolumeMount, dropped map[string]bool) []corev1.VolumeMount {
	if len(dropped) == 0 {
		return mounts
	}
	out := mounts[:0:0]
	for _, m := range mounts {
		if !dropped[m.Name] {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// ApplyUpdate copies onto a lower pod the fields a kubelet honours on update: container
// images, activeDeadlineSeconds, added tolerations, labels and annotations. desired is
// PodToLower of the updated upper pod; previous is PodToLower of the upper pod applied
// before (nil if unknown, e.g. after a restart). Labels and annotations that lower
// components wrote are kept: only keys that previous had and desired dropped are
// removed. It returns whether anything changed.
func ApplyUpdate(lower, desired, previous *corev1.Pod) (bool, error) {
	before := lower.DeepCopy()
	if len(lower.Spec.Containers) != len(desired.Spec.Containers) || len(lower.Spec.InitContainers) != len(desired.Spec.InitContainers) {
		return false, fmt.Errorf("pod %s/%s: container lists differ; a pod's containers cannot change", lower.Namespace, lower.Name)
	}
	for i := range desired.Spec.Containers {
		lower.Spec.Containers[i].Image = desired.Spec.Containers[i].Image
	}
	for i := range desired.Spec.InitContainers {
		lower.Spec.InitContainers[i].Image = desired.Spec.InitContainers[i].Image
	}
	lower.Spec.ActiveDeadlineSeconds = desired.Spec.ActiveDeadlineSeconds
	for _, t := range desired.Spec.Tolerations {
		if !constraints.HasToleration(lower.Spec.Tolerations, t) {
			lower.Spec.Tolerations = append(lower.Spec.Tolerations, t)
		}
	}
	var prevLabels, prevAnnotations map[string]string
	if previous != nil {
		prevLabels, prevAnnotations = previous.Labels, previous.Annotations
	}
	lower.Labels = mergeOwned(lower.Labels, desired.Labels, prevLabels)
	lower.Annotations = mergeOwned(lower.Annotations, desired.Annotations, prevAnnotations)
	return !podMetaSpecEqual(before, lower), nil
}

// mergeOwned sets every desired key on current and removes the keys we set before
// (previous) that desired no longer has; keys written by others stay.
func mergeOwned(current, desired, previous map[string]string) map[string]string {
	out := maps.Clone(current)
	if out == nil {
		out = map[string]string{}
	}
	for k := range previous {
		if _, keep := desired[k]; !keep {
			delete(out, k)
		}
	}
	for k, v := range desired {
		out[k] = v
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func podMetaSpecEqual(a, b *corev1.Pod) bool {
	return maps.Equal(a.Labels, b.Labels) && maps.Equal(a.Annotations, b.Annotations) &&
		ptr.Equal(a.Spec.ActiveDeadlineSeconds, b.Spec.ActiveDeadlineSeconds) &&
		len(a.Spec.Tolerations) == len(b.Spec.Tolerations) && imagesEqual(a, b)
}

func imagesEqual(a, b *corev1.Pod) bool {
	for i := range a.Spec.Containers {
		if a.Spec.Containers[i].Image != b.Spec.Containers[i].Image {
			return false
		}
	}
	for i := range a.Spec.InitContainers {
		if a.Spec.InitContainers[i].Image != b.Spec.InitContainers[i].Image {
			return false
		}
	}
	return true
}
