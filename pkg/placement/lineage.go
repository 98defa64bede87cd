package placement

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
)

// OriginalNameAnnotation holds, on the lineage record of a bare pod, the name of the
// lineage's first pod, from which every replacement's name is derived. Pods re-created
// before lineage records existed carry it too; the descheduler no longer reads it from
// pods, so a pod's author cannot make it name another object.
const OriginalNameAnnotation = "tensile.dev/original-name"

// Lineage is what the descheduler keeps about the bare pods it re-created from one
// first pod: that pod's name, how many times the lineage was re-created, and the
// exclusions merged into the current pod's affinity (so the next re-creation can take
// the expired ones out again).
type Lineage struct {
	// Original is the name of the lineage's first pod.
	Original string
	// Recreations counts the re-creations so far; the cap applies to it.
	Recreations int
	// Exclusions are the nodes excluded in the current pod's affinity.
	Exclusions []v1alpha1.NodeExclusion
}

// LineageRecordName is the name of the lineage record of the bare pod with uid.
// Keying it by UID makes it independent of anything the pod's author can write: the
// descheduler finds the record from the pod's UID, which nobody can change, and a new
// pod with an old pod's name never inherits the old pod's record.
func LineageRecordName(uid types.UID) string {
	return "pod-" + string(uid)
}

// NewLineageRecord returns the lineage record of pod, a bare pod the descheduler
// created, holding l. The record is owned by pod, so the garbage collector deletes it
// with the pod; a replacement gets a record of its own.
func NewLineageRecord(pod *corev1.Pod, l Lineage) *v1alpha1.PlacementExclusion {
	owner := metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID}
	rec := &v1alpha1.PlacementExclusion{
		TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.SchemeGroupVersion.String(), Kind: v1alpha1.PlacementExclusionKind},
		ObjectMeta: metav1.ObjectMeta{
			Name:            LineageRecordName(pod.UID),
			Namespace:       pod.Namespace,
			OwnerReferences: []metav1.OwnerReference{owner},
			Annotations:     map[string]string{OriginalNameAnnotation: l.Original},
		},
		Spec: v1alpha1.PlacementExclusionSpec{
			Owner:      v1alpha1.ExclusionOwner{APIVersion: owner.APIVersion, Kind: owner.Kind, Name: owner.Name, UID: owner.UID},
			Exclusions: l.Exclusions,
		},
	}
	rec.Annotations = SetRecreations(rec.Annotations, l.Recreations)
	return rec
}

// LineageOf returns the lineage rec holds for pod. ok is false when rec is not pod's
// lineage record (nil, or made for another pod of the same UID-derived name, which
// only a hand-made object can be).
func LineageOf(rec *v1alpha1.PlacementExclusion, pod *corev1.Pod) (l Lineage, ok bool) {
	if rec == nil || rec.Spec.Owner.Kind != "Pod" || rec.Spec.Owner.UID != pod.UID || rec.Spec.Owner.Name != pod.Name ||
		rec.Annotations[OriginalNameAnnotation] == "" {
		return Lineage{}, false
	}
	return Lineage{
		Original:    rec.Annotations[OriginalNameAnnotation],
		Recreations: Recreations(rec.Annotations),
		Exclusions:  rec.Spec.Exclusions,
	}, true
}

// LegacyLineage is the lineage of a bare pod that has no lineage record: a first pod,
// or a pod re-created before lineage records existed, whose count and exclusions are in
// its own annotations. The count is read as it stands: its author can only raise it
// (which caps their own pod sooner) or reset it, which gives what a first pod has.
// The original name is always the pod's own: an annotation must not choose which
// name the replacement takes.
func LegacyLineage(pod *corev1.Pod) (Lineage, error) {
	excl, err := PodExclusions(pod)
	if err != nil {
		return Lineage{}, err
	}
	return Lineage{Original: pod.Name, Recreations: Recreations(pod.Annotations), Exclusions: excl}, nil
}
