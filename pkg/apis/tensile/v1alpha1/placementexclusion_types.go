package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// PlacementExclusionResource is the plural resource name of PlacementExclusion, as
// served by the API server and named in RBAC rules.
const PlacementExclusionResource = "placementexclusions"

// PlacementExclusionKind is the kind of PlacementExclusion objects.
const PlacementExclusionKind = "PlacementExclusion"

// PlacementExclusion records, for one pod controller (a ReplicaSet, StatefulSet, Job,
// ...), the virtual nodes its new pods must avoid for a while.
//
// The descheduler plugin RecreateUnschedulable writes it when a pod of that controller
// sat unschedulable in the lower cluster behind a virtual node; the admission webhook
// reads it and adds `kubernetes.io/hostname NotIn [...]` to every new pod of the
// controller, so the replacement the controller creates lands elsewhere. The object is
// owned by the controller, so it is garbage-collected with it.
//
// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,shortName=pex
type PlacementExclusion struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec names the controller and the excluded virtual nodes.
	Spec PlacementExclusionSpec `json:"spec"`
}

// PlacementExclusionSpec is the content of a PlacementExclusion.
type PlacementExclusionSpec struct {
	// Owner identifies the pod controller whose new pods the exclusions apply to.
	Owner ExclusionOwner `json:"owner"`
	// Exclusions lists the virtual nodes to avoid, each until its expiry. Expired
	// entries are ignored by readers and pruned by the next writer.
	// +optional
	Exclusions []NodeExclusion `json:"exclusions,omitempty"`
}

// ExclusionOwner identifies a pod controller. It mirrors the controller reference the
// pods carry, so the webhook can match a new pod to its record without extra reads.
type ExclusionOwner struct {
	// APIVersion is the controller's API version, e.g. apps/v1.
	APIVersion string `json:"apiVersion"`
	// Kind is the controller's kind, e.g. ReplicaSet.
	Kind string `json:"kind"`
	// Name is the controller's name.
	Name string `json:"name"`
	// UID is the controller's UID; a record whose UID differs from the pod's
	// controller reference belongs to an older controller of the same name and is
	// ignored.
	UID types.UID `json:"uid"`
}

// NodeExclusion keeps new pods off one virtual node until ExpiresAt.
type NodeExclusion struct {
	// Node is the name of the virtual node to avoid.
	Node string `json:"node"`
	// ExpiresAt is when the exclusion lapses, so that a lower cluster that gained
	// capacity is tried again.
	ExpiresAt metav1.Time `json:"expiresAt"`
}

// PlacementExclusionList is a list of PlacementExclusion objects.
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type PlacementExclusionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`

	// Items are the listed objects.
	Items []PlacementExclusion `json:"items"`
}

func init() {
	localSchemeBuilder.Register(addPlacementExclusionTypes)
}

// addPlacementExclusionTypes registers PlacementExclusion and its list with a scheme.
func addPlacementExclusionTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(SchemeGroupVersion, &PlacementExclusion{}, &PlacementExclusionList{})
	return nil
}
