package translate

import (
	corev1 "k8s.io/api/core/v1"
)

// MissingEphemeralContainers returns the upper pod's ephemeral containers (kubectl
// debug) that the lower pod lacks, translated for the lower pod: volume mounts of
// volumes the lower pod does not have (the upper service-account token volume, which
// translation drops) are left out, as the lower API server would refuse them. Ephemeral
// containers can only be added, never changed or removed, so one of the same name
// below counts as present.
func MissingEphemeralContainers(upper, lower *corev1.Pod) []corev1.EphemeralContainer {
	have := make(map[string]bool, len(lower.Spec.EphemeralContainers))
	for _, e := range lower.Spec.EphemeralContainers {
		have[e.Name] = true
	}
	volumes := make(map[string]bool, len(lower.Spec.Volumes))
	for _, v := range lower.Spec.Volumes {
		volumes[v.Name] = true
	}
	var out []corev1.EphemeralContainer
	for _, e := range upper.Spec.EphemeralContainers {
		if have[e.Name] {
			continue
		}
		e = *e.DeepCopy()
		mounts := e.VolumeMounts[:0]
		for _, m := range e.VolumeMounts {
			if volumes[m.Name] {
				mounts = append(mounts, m)
			}
		}
		e.VolumeMounts = mounts
		if len(e.VolumeMounts) == 0 {
			e.VolumeMounts = nil
		}
		out = append(out, e)
	}
	return out
}
