package placement

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
)

const (
	// RecreationsAnnotation counts, on a PlacementExclusion, how many times the
	// descheduler moved a workload off a virtual node: for a controller, the distinct
	// exclusions added; for a bare pod's lineage record, the re-creations. Past the
	// descheduler's cap, the workload is left alone. Records are written by the
	// descheduler only, never by a pod's author. Pods re-created before lineage records
	// existed carry it too (see LegacyLineage).
	RecreationsAnnotation = "tensile.dev/recreations"

	// ExclusionsAnnotation held, on bare pods re-created before lineage records
	// existed, the exclusions merged into their affinity as a JSON list of
	// NodeExclusion. It is read from pods without a lineage record only (LegacyLineage)
	// and no longer written.
	ExclusionsAnnotation = "tensile.dev/exclusions"

	// maxNameLength is the longest object name the API server accepts for
	// PlacementExclusion (a DNS subdomain).
	maxNameLength = 253
)

// RecordName is the name of the PlacementExclusion for the controller of the given
// kind and name: "<kind>-<name>" in lower case, shortened with a hash suffix when
// longer than an object name may be.
func RecordName(kind, name string) string {
	full := strings.ToLower(kind) + "-" + name
	if len(full) <= maxNameLength {
		return full
	}
	sum := sha256.Sum256([]byte(full))
	suffix := "-" + hex.EncodeToString(sum[:])[:10]
	return strings.TrimRight(full[:maxNameLength-len(suffix)], "-.") + suffix
}

// NewRecord returns an empty PlacementExclusion for the pod controller owner in
// namespace. The object is owned by that controller, so the garbage collector deletes
// it together with the controller.
func NewRecord(namespace string, owner metav1.OwnerReference) *v1alpha1.PlacementExclusion {
	return &v1alpha1.PlacementExclusion{
		TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.SchemeGroupVersion.String(), Kind: v1alpha1.PlacementExclusionKind},
		ObjectMeta: metav1.ObjectMeta{
			Name:      RecordName(owner.Kind, owner.Name),
			Namespace: namespace,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: owner.APIVersion, Kind: owner.Kind, Name: owner.Name, UID: owner.UID,
			}},
		},
		Spec: v1alpha1.PlacementExclusionSpec{Owner: v1alpha1.ExclusionOwner{
			APIVersion: owner.APIVersion, Kind: owner.Kind, Name: owner.Name, UID: owner.UID,
		}},
	}
}

// Matches reports whether rec is the record of the controller owner. A record left
// behind by an earlier controller of the same name has another UID and does not match.
func Matches(rec *v1alpha1.PlacementExclusion, owner metav1.OwnerReference) bool {
	return rec != nil && rec.Spec.Owner.UID == owner.UID && rec.Spec.Owner.Kind == owner.Kind &&
		rec.Spec.Owner.Name == owner.Name
}

// Active returns the nodes of exclusions that have not expired at now, sorted.
func Active(exclusions []v1alpha1.NodeExclusion, now time.Time) []string {
	var nodes []string
	for _, e := range exclusions {
		if e.ExpiresAt.Time.After(now) {
			nodes = append(nodes, e.Node)
		}
	}
	return sortedUnique(nodes)
}

// Expired returns the nodes whose exclusions have all expired at now, sorted.
func Expired(exclusions []v1alpha1.NodeExclusion, now time.Time) []string {
	active := Active(exclusions, now)
	var nodes []string
	for _, e := range exclusions {
		if !slices.Contains(active, e.Node) {
			nodes = append(nodes, e.Node)
		}
	}
	return sortedUnique(nodes)
}

// Add returns exclusions without the entries expired at now, plus node excluded until
// expiresAt. An active entry for node is extended, never shortened. added reports
// whether node was not actively excluded before, the event the re-creation cap counts.
// The result is sorted by node; the input is not modified.
func Add(exclusions []v1alpha1.NodeExclusion, node string, now, expiresAt time.Time) (out []v1alpha1.NodeExclusion, added bool) {
	added = true
	for _, e := range exclusions {
		if !e.ExpiresAt.Time.After(now) {
			continue
		}
		if e.Node == node {
			added = false
			if e.ExpiresAt.Time.After(expiresAt) {
				expiresAt = e.ExpiresAt.Time
			}
			continue
		}
		out = append(out, *e.DeepCopy())
	}
	out = append(out, v1alpha1.NodeExclusion{Node: node, ExpiresAt: metav1.NewTime(expiresAt.UTC().Truncate(time.Second))})
	slices.SortFunc(out, func(a, b v1alpha1.NodeExclusion) int { return strings.Compare(a.Node, b.Node) })
	return out, added
}

// Recreations reads the RecreationsAnnotation of an object's annotations. A missing
// or malformed value counts as zero, since the count only ever caps further action.
func Recreations(annotations map[string]string) int {
	n, err := strconv.Atoi(annotations[RecreationsAnnotation])
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// SetRecreations returns annotations with RecreationsAnnotation set to n, allocating
// the map when it is nil.
func SetRecreations(annotations map[string]string, n int) map[string]string {
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[RecreationsAnnotation] = strconv.Itoa(n)
	return annotations
}

// PodExclusions reads the ExclusionsAnnotation of a bare pod. A pod without it has
// none; a malformed value is an error, because dropping it would lose which NotIn
// values the descheduler added.
func PodExclusions(pod *corev1.Pod) ([]v1alpha1.NodeExclusion, error) {
	raw, ok := pod.Annotations[ExclusionsAnnotation]
	if !ok {
		return nil, nil
	}
	var out []v1alpha1.NodeExclusion
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		return nil, fmt.Errorf("annotation %s on pod %s/%s is not valid: %w", ExclusionsAnnotation, pod.Namespace, pod.Name, err)
	}
	return out, nil
}

// SetPodExclusions stores exclusions in the ExclusionsAnnotation of pod.
func SetPodExclusions(pod *corev1.Pod, exclusions []v1alpha1.NodeExclusion) error {
	raw, err := json.Marshal(exclusions)
	if err != nil {
		return fmt.Errorf("encoding exclusions: %w", err)
	}
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[ExclusionsAnnotation] = string(raw)
	return nil
}
