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

// OriginalNameAnnotation is placement.OriginalNameAnnotation: the first pod's name,
// kept on the lineage record.
const OriginalNameAnnotation = placement.OriginalNameAnnotation

// maxPodNameLength is the longest pod name the API server accepts (a DNS subdomain).
const maxPodNameLength = 253

// lineageAnnotations are the annotations re-created pods used to carry and no longer
// do: the lineage record holds what they held. A replacement drops them, so that no
// stale copy suggests otherwise.
var lineageAnnotations = []string{placement.RecreationsAnnotation, placement.ExclusionsAnnotation, placement.OriginalNameAnnotation}

// replacement returns the pod that replaces the bare pod, which is stuck on node, and
// the lineage the replacement continues: the same metadata and spec, unbound, with node
// excluded until now+ttl, the lineage's exclusions that expired removed from its
// affinity, and the name <original>-r<count>, both from lin (never from the pod's
// annotations). Fields the API server sets or refuses on creation (status, UID,
// priority, ephemeral containers) are dropped. pod is not modified.
func replacement(pod *v1.Pod, lin placement.Lineage, node string, now time.Time, ttl time.Duration) (*v1.Pod, placement.Lineage) {
	exclusions, _ := placement.Add(lin.Exclusions, node, now, now.Add(ttl))
	active := placement.Active(exclusions, now)
	expired := slices.DeleteFunc(placement.Expired(lin.Exclusions, now), func(n string) bool { return slices.Contains(active, n) })
	next := placement.Lineage{Original: lin.Original, Recreations: lin.Recreations + 1, Exclusions: exclusions}

	out := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:            replacementName(lin.Original, next.Recreations),
			Namespace:       pod.Namespace,
			Labels:          maps.Clone(pod.Labels),
			Annotations:     maps.Clone(pod.Annotations),
			OwnerReferences: slices.Clone(pod.OwnerReferences),
			Finalizers:      slices.Clone(pod.Finalizers),
		},
		Spec: *pod.Spec.DeepCopy(),
	}
	for _, k := range lineageAnnotations {
		delete(out.Annotations, k)
	}
	out.Spec.NodeName = ""
	// Priority admission recomputes it from priorityClassName and refuses a value
	// that disagrees, e.g. after the class changed.
	out.Spec.Priority = nil
	out.Spec.EphemeralContainers = nil
	out.Spec.Affinity = placement.WithExcludedNodes(placement.WithoutExcludedNodes(out.Spec.Affinity, expired), active)
	return out, next
}

// legacyLineage is the lineage of a bare pod without a lineage record (see
// placement.LegacyLineage). Its tensile.dev/original-name is believed only when the
// pod's own name is the replacement name that original and count give, which only
// the descheduler's own naming produces: an annotation naming another pod never
// decides a replacement's name. ignored reports an original-name that was not believed.
func legacyLineage(pod *v1.Pod) (lin placement.Lineage, ignored string, err error) {
	lin, err = placement.LegacyLineage(pod)
	if err != nil {
		return lin, "", err
	}
	orig, ok := pod.Annotations[OriginalNameAnnotation]
	switch {
	case !ok:
	case orig != "" && lin.Recreations > 0 && replacementName(orig, lin.Recreations) == pod.Name:
		lin.Original = orig
	default:
		ignored = orig
	}
	return lin, ignored, nil
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
