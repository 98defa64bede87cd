// Package translate holds the pure functions that turn upper-cluster objects into the
// objects the virtual node creates in its lower cluster, and lower-cluster state back
// into upper-cluster status. Nothing here performs I/O, so every rule is table-tested.
package translate

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
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

// Owns reports whether obj carries this owner's marks.
func (o Owner) Owns(obj metav1.Object) bool {
	l := obj.GetLabels()
	return l[LabelVirtualNode] == o.VirtualNode && l[LabelUpperCluster] == o.UpperCluster
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
	obj.SetAnnotations(a)
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
	case LabelVirtualNode, LabelUpperCluster, AnnotationUpperUID, AnnotationUpperNamespace:
		return true
	}
	return false
}
