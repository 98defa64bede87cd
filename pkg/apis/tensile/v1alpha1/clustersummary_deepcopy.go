package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Hand-written deep copies: each kind keeps its own so that kinds can be added in
// parallel without regenerating a shared zz_generated file.

// DeepCopyInto copies in into out.
func (in *ClusterSummary) DeepCopyInto(out *ClusterSummary) {
	*out = *in
	out.TypeMeta = in.TypeMeta
	in.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	in.Status.DeepCopyInto(&out.Status)
}

// DeepCopy returns a deep copy of in.
func (in *ClusterSummary) DeepCopy() *ClusterSummary {
	if in == nil {
		return nil
	}
	out := new(ClusterSummary)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *ClusterSummary) DeepCopyObject() runtime.Object {
	if c := in.DeepCopy(); c != nil {
		return c
	}
	return nil
}

// DeepCopyInto copies in into out.
func (in *ClusterSummaryList) DeepCopyInto(out *ClusterSummaryList) {
	*out = *in
	out.TypeMeta = in.TypeMeta
	in.ListMeta.DeepCopyInto(&out.ListMeta)
	if in.Items != nil {
		out.Items = make([]ClusterSummary, len(in.Items))
		for i := range in.Items {
			in.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
}

// DeepCopy returns a deep copy of in.
func (in *ClusterSummaryList) DeepCopy() *ClusterSummaryList {
	if in == nil {
		return nil
	}
	out := new(ClusterSummaryList)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *ClusterSummaryList) DeepCopyObject() runtime.Object {
	if c := in.DeepCopy(); c != nil {
		return c
	}
	return nil
}

// DeepCopy returns a deep copy of in.
func (in ResourceAmounts) DeepCopy() ResourceAmounts {
	if in == nil {
		return nil
	}
	out := make(ResourceAmounts, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

// DeepCopyInto copies in into out.
func (in *ClusterSummaryStatus) DeepCopyInto(out *ClusterSummaryStatus) {
	*out = *in
	in.UpdateTime.DeepCopyInto(&out.UpdateTime)
	in.Totals.DeepCopyInto(&out.Totals)
	if in.IgnoredLabelKeys != nil {
		out.IgnoredLabelKeys = append([]string(nil), in.IgnoredLabelKeys...)
	}
	if in.IgnoredLabelPrefixes != nil {
		out.IgnoredLabelPrefixes = append([]string(nil), in.IgnoredLabelPrefixes...)
	}
	if in.Groups != nil {
		out.Groups = make([]NodeGroup, len(in.Groups))
		for i := range in.Groups {
			in.Groups[i].DeepCopyInto(&out.Groups[i])
		}
	}
}

// DeepCopy returns a deep copy of in.
func (in *ClusterSummaryStatus) DeepCopy() *ClusterSummaryStatus {
	if in == nil {
		return nil
	}
	out := new(ClusterSummaryStatus)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyInto copies in into out.
func (in *SummaryTotals) DeepCopyInto(out *SummaryTotals) {
	out.Allocatable = in.Allocatable.DeepCopy()
	out.Requested = in.Requested.DeepCopy()
}

// DeepCopyInto copies in into out.
func (in *NodeGroup) DeepCopyInto(out *NodeGroup) {
	*out = *in
	if in.Labels != nil {
		out.Labels = make(map[string]string, len(in.Labels))
		for k, v := range in.Labels {
			out.Labels[k] = v
		}
	}
	if in.Taints != nil {
		out.Taints = make([]corev1.Taint, len(in.Taints))
		for i := range in.Taints {
			in.Taints[i].DeepCopyInto(&out.Taints[i])
		}
	}
	out.Allocatable = in.Allocatable.DeepCopy()
	out.Free = in.Free.DeepCopy()
	out.MaxFree = in.MaxFree.DeepCopy()
	if in.Slots != nil {
		out.Slots = make([]FreeSlot, len(in.Slots))
		for i := range in.Slots {
			out.Slots[i] = FreeSlot{Free: in.Slots[i].Free.DeepCopy(), Count: in.Slots[i].Count}
		}
	}
}
