// Package translate holds the pure functions that turn upper-cluster objects into the
// objects the virtual node creates in its lower cluster, and lower-cluster state back
// into upper-cluster status. Nothing here performs I/O, so every rule is table-tested.
package translate

import (
	"fmt"
	"hash/fnv"
	"strings"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// Ownership marks carried by every object the virtual node creates below. An object
// without both labels matching is foreign: it is never adopted, changed or deleted.
const (
	// LabelVirtualNode names the virtual node that created the object.
	LabelVirtualNode = "tensile.dev/virtual-node"
	// LabelUpperCluster names the upper cluster the virtual node belongs to.
	LabelUpperCluster = "tensile.dev/upper-cluster"
	// AnnotationUpperUID records the UID of the upper object the lower one mirrors, so a
	// re-created upper object with the same name is told apart from the old one.
	AnnotationUpperUID = "tensile.dev/upper-uid"
	// AnnotationUpperNamespace records, on a lower namespace created for a mapped upper one,
	// the upper namespace's name.
	AnnotationUpperNamespace = "tensile.dev/upper-namespace"
	// AnnotationNamespaceMap records the namespace map (NamespaceMap.String) a copy was
	// made under. A node restarted with another --lower-namespace must not take the old
	// map's copies for its own: mapped back through the new map they would name other, or
	// no, upper objects, and be deleted (a claim's data with them).
	AnnotationNamespaceMap = "tensile.dev/namespace-map"
	// AnnotationAllowUpperClusters is set by a lower cluster's admin, never by a node, on
	// a lower object of the lower cluster's own (a ServiceAccount) to let the pods of the
	// listed upper clusters use it: a comma-separated list of upper cluster identifiers
	// (Owner.UpperCluster), or "*" for every upper cluster.
	AnnotationAllowUpperClusters = "tensile.dev/allow-upper-clusters"
)

// Owner identifies one virtual node of one upper cluster: the owner of what it creates.
type Owner struct {
	// VirtualNode is the virtual node's name in the upper cluster.
	VirtualNode string
	// UpperCluster is a stable identifier of the upper cluster (label-value safe).
	UpperCluster string
	// Namespaces maps upper namespaces to the lower ones this node's objects live in.
	Namespaces NamespaceMap
}

// Labels returns the ownership labels.
func (o Owner) Labels() map[string]string {
	return map[string]string{LabelVirtualNode: o.VirtualNode, LabelUpperCluster: o.UpperCluster}
}

// Selector selects the lower objects this owner created.
func (o Owner) Selector() labels.Selector {
	return labels.SelectorFromSet(o.Labels())
}

// Owns reports whether obj carries this owner's marks and was made under this owner's
// namespace map. An object made under another map (the node ran with another
// --lower-namespace before) is left alone, as foreign; one without a recorded map
// (made before maps were recorded) counts as this map's.
func (o Owner) Owns(obj metav1.Object) bool {
	l := obj.GetLabels()
	if l[LabelVirtualNode] != o.VirtualNode || l[LabelUpperCluster] != o.UpperCluster {
		return false
	}
	m, ok := obj.GetAnnotations()[AnnotationNamespaceMap]
	return !ok || m == o.Namespaces.String()
}

// AllowedBy reports whether the lower admin let this owner's upper cluster use obj, a
// lower object the node did not create (AnnotationAllowUpperClusters).
func (o Owner) AllowedBy(obj metav1.Object) bool {
	for _, id := range strings.Split(obj.GetAnnotations()[AnnotationAllowUpperClusters], ",") {
		if id = strings.TrimSpace(id); id == "*" || (id != "" && id == o.UpperCluster) {
			return true
		}
	}
	return false
}

// MarkedByAnyNode reports whether obj carries a virtual node's mark, whichever node's:
// such an object is another node's copy, with a life of its own, not the lower
// cluster's own object.
func MarkedByAnyNode(obj metav1.Object) bool {
	_, ok := obj.GetLabels()[LabelVirtualNode]
	return ok
}

// Mark stamps obj with the ownership labels and the UID of the upper object it mirrors.
func (o Owner) Mark(obj metav1.Object, upperUID types.UID) {
	l := obj.GetLabels()
	if l == nil {
		l = map[string]string{}
	}
	for k, v := range o.Labels() {
		l[k] = v
	}
	obj.SetLabels(l)
	a := obj.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[AnnotationUpperUID] = string(upperUID)
	a[AnnotationNamespaceMap] = o.Namespaces.String()
	obj.SetAnnotations(a)
}

// Anchors: the lower pods a node creates have a controller ownerReference to a Lease of
// the node's in their namespace, so no lower controller (a ReplicaSet, StatefulSet or
// Job whose selector matches the upper pod's labels) adopts them, counts them or deletes
// them as its surplus: controllers adopt only pods without a controller. A Lease is
// namespaced (an owner must be in its dependents' namespace or cluster-scoped), small,
// never reflected, and needs no CRD in the lower cluster.
const (
	anchorAPIVersion = "coordination.k8s.io/v1"
	anchorKind       = "Lease"
	// maxAnchorName is the longest Lease name (a DNS subdomain).
	maxAnchorName = 253
)

// AnchorName is the name of this owner's anchor Lease in each lower namespace:
// "tensile-<node>-<hash of the upper cluster>", so two upper clusters' nodes of the same
// name never share one. A long node name is shortened.
func (o Owner) AnchorName() string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(o.UpperCluster))
	suffix := fmt.Sprintf("-%08x", h.Sum32())
	node := o.VirtualNode
	if max := maxAnchorName - len("tensile-") - len(suffix); len(node) > max {
		node = strings.TrimRight(node[:max], "-.")
	}
	return "tensile-" + node + suffix
}

// Anchor returns the anchor Lease to create in a lower namespace, marked as ours.
func (o Owner) Anchor(namespace string) *coordinationv1.Lease {
	holder := o.VirtualNode
	l := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: o.AnchorName(), Namespace: namespace},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder},
	}
	o.Mark(l, "")
	delete(l.Annotations, AnnotationUpperUID) // it mirrors no upper object
	return l
}

// AnchorReference is the controller ownerReference to an anchor Lease that every lower
// pod of the owner carries. It does not block the anchor's deletion: the garbage
// collector then deletes the pods, and the node makes a new anchor and new pods.
func AnchorReference(anchor *coordinationv1.Lease) metav1.OwnerReference {
	return metav1.OwnerReference{
		APIVersion: anchorAPIVersion, Kind: anchorKind, Name: anchor.Name, UID: anchor.UID,
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(false),
	}
}

// UpperUID returns the upper UID recorded on a lower object.
func UpperUID(obj metav1.Object) types.UID {
	return types.UID(obj.GetAnnotations()[AnnotationUpperUID])
}

// WithoutOwnership returns a copy of labels or annotations without our marks: the
// upper object's own view of a lower object. It returns nil when nothing remains.
func WithoutOwnership(m map[string]string) map[string]string {
	var out map[string]string
	for k, v := range m {
		if isOwnershipKey(k) {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
	}
	return out
}

// isOwnershipKey reports whether a label or annotation key is one of ours.
func isOwnershipKey(k string) bool {
	switch k {
	case LabelVirtualNode, LabelUpperCluster, AnnotationUpperUID, AnnotationUpperNamespace, AnnotationNamespaceMap:
		return true
	}
	return false
}
