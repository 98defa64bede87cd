package config

import (
	"k8s.io/apimachinery/pkg/runtime"
)

// DeepCopyInto copies in into out.
func (in *LowerClusterFitArgs) DeepCopyInto(out *LowerClusterFitArgs) {
	*out = *in
	if in.VirtualNodeSelector != nil {
		out.VirtualNodeSelector = in.VirtualNodeSelector.DeepCopy()
	}
}

// DeepCopy returns a deep copy of in.
func (in *LowerClusterFitArgs) DeepCopy() *LowerClusterFitArgs {
	if in == nil {
		return nil
	}
	out := new(LowerClusterFitArgs)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *LowerClusterFitArgs) DeepCopyObject() runtime.Object {
	if c := in.DeepCopy(); c != nil {
		return c
	}
	return nil
}
