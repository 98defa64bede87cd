package recreateunschedulable

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tensile-kube/tensile/pkg/placement"
)

// OriginalNameAnnotation holds, on a re-created bare pod, the name of the first pod of
// its lineage, from which every replacement's name is derived.
const OriginalNameAnnotation = "tensile.dev/original-name"

// maxPodNameLength is the longest pod name the API server accepts (a DNS subdomain).
const maxPodNameLength = 253

// replacement returns the pod that replaces the bare pod, which is stuck on node: the
// same metadata and spec, unbound, with node excluded until now+ttl, the exclusions of
// earlier re-creations that expired removed from its affinity, its re-creation count
// raised, and the name <original>-r<count>. Fields the API server sets or refuses on
// creation (status, UID, priority, ephemeral containers) are dropped. pod is not
// modified.
func replacement(pod *v1.Pod, node string, now time.Time, ttl time.Duration) (*v1.Pod, error) {
	prev, err := placement.PodExclusions(pod)
	if err != nil {
		return nil, err
	}
	exclusions, _ := placement.Add(prev, node, now, now.Add(ttl))
	active := placement.Active(exclusions, now)
	expired := slices.DeleteFunc(placement.Expired(prev, now), func(n string) bool { return slices.Contains(active, n) })

	count := placement.Recreations(pod.Annotations) + 1
	original := pod.Annotations[OriginalNameAnnotation]
	if original == "" {
		original = pod.Name
	}
	out := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:            replacementName(original, count),
			Namespace:       pod.Namespace,
			Labels:          maps.Clone(pod.Labels),
			Annotations:     maps.Clone(pod.Annotations),
			OwnerReferences: slices.Clone(pod.OwnerReferences),
			Finalizers:      slices.Clone(pod.Finalizers),
		},
		Spec: *pod.Spec.DeepCopy(),
	}
	out.Annotations = placement.SetRecreations(out.Annotations, count)
	out.Annotations[OriginalNameAnnotation] = original
	if err := placement.SetPodExclusions(out, exclusions); err != nil {
		return nil, err
	}
	out.Spec.NodeName = ""
	// Priority admission recomputes it from priorityClassName and refuses a value
	// that disagrees, e.g. after the class changed.
	out.Spec.Priority = nil
	out.Spec.EphemeralContainers = nil
	out.Spec.Affinity = placement.WithExcludedNodes(placement.WithoutExcludedNodes(out.Spec.Affinity, expired), active)
	return out, nil
}

// replacementName returns <original>-r<count>, shortening original (with a hash to
// keep distinct originals distinct) when the result would be too long for a pod name.
func replacementName(original string, count int) string {
	suffix := fmt.Sprintf("-r%d", count)
	if len(original)+len(suffix) <= maxPodNameLength {
		return original + suffix
	}
	sum := sha256.Sum256([]byte(original))
	hash := "-" + hex.EncodeToString(sum[:])[:8]
	keep := maxPodNameLength - len(suffix) - len(hash)
	return strings.TrimRight(original[:keep], "-.") + hash + suffix
}
