package v1alpha1

// Hand-written deep copies of the PlacementExclusion types, in the form deepcopy-gen
// emits. They live in this kind's own file because several kinds are added to this
// package concurrently (see doc.go).

import "k8s.io/apimachinery/pkg/runtime"

// DeepCopyInto copies the receiver into out. in must be non-nil.
func (in *NodeExclusion) DeepCopyInto(out *NodeExclusion) {
	*out = *in
	in.ExpiresAt.DeepCopyInto(&out.ExpiresAt)
}

// DeepCopy returns a deep copy of the receiver, or nil for a nil receiver.
func (in *NodeExclusion) DeepCopy() *NodeExclusion {
	if in == nil {
		return nil
	}
	out := new(NodeExclusion)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyInto copies the receiver into out. in must be non-nil.
func (in *ExclusionOwner) DeepCopyInto(out *ExclusionOwner) {
	*out = *in
}

// DeepCopy returns a deep copy of the receiver, or nil for a nil receiver.
func (in *ExclusionOwner) DeepCopy() *ExclusionOwner {
	if in == nil {
		return nil
	}
	out := new(ExclusionOwner)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyInto copies the receiver into out. in must be non-nil.
func (in *PlacementExclusionSpec) DeepCopyInto(out *PlacementExclusionSpec) {
	*out = *in
	out.Owner = in.Owner
	if in.Exclusions != nil {
		out.Exclusions = make([]NodeExclusion, len(in.Exclusions))
		for i := range in.Exclusions {
			in.Exclusions[i].DeepCopyInto(&out.Exclusions[i])
		}
	}
}

// DeepCopy returns a deep copy of the receiver, or nil for a nil receiver.
func (in *PlacementExclusionSpec) DeepCopy() *PlacementExclusionSpec {
	if in == nil {
		return nil
	}
	out := new(PlacementExclusionSpec)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyInto copies the receiver into out. in must be non-nil.
func (in *PlacementExclusion) DeepCopyInto(out *PlacementExclusion) {
	*out = *in
	out.TypeMeta = in.TypeMeta
	in.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	in.Spec.DeepCopyInto(&out.Spec)
}

// DeepCopy returns a deep copy of the receiver, or nil for a nil receiver.
func (in *PlacementExclusion) DeepCopy() *PlacementExclusion {
	if in == nil {
		return nil
	}
	out := new(PlacementExclusion)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject returns a deep copy of the receiver as a runtime.Object.
func (in *PlacementExclusion) DeepCopyObject() runtime.Object {
	if c := in.DeepCopy(); c != nil {
		return c
	}
	return nil
}

// DeepCopyInto copies the receiver into out. in must be non-nil.
func (in *PlacementExclusionList) DeepCopyInto(out *PlacementExclusionList) {
	*out = *in
	out.TypeMeta = in.TypeMeta
	in.ListMeta.DeepCopyInto(&out.ListMeta)
	if in.Items != nil {
		out.Items = make([]PlacementExclusion, len(in.Items))
		for i := range in.Items {
			in.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
}

// DeepCopy returns a deep copy of the receiver, or nil for a nil receiver.
func (in *PlacementExclusionList) DeepCopy() *PlacementExclusionList {
	if in == nil {
		return nil
	}
	out := new(PlacementExclusionList)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject returns a deep copy of the receiver as a runtime.Object.
func (in *PlacementExclusionList) DeepCopyObject() runtime.Object {
	if c := in.DeepCopy(); c != nil {
		return c
	}
	return nil
}
