package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// ClusterSummaryResource is the plural resource name of ClusterSummary.
const ClusterSummaryResource = "clustersummaries"

// ClusterSummaryKind is the kind name of ClusterSummary.
const ClusterSummaryKind = "ClusterSummary"

// ClusterSummaryGVR is the group, version and resource of ClusterSummary, for dynamic clients.
var ClusterSummaryGVR = SchemeGroupVersion.WithResource(ClusterSummaryResource)

// ClusterSummary is the compact, bounded description of one lower cluster's free
// capacity that the virtual node publishes into the upper cluster. Its name is the name
// of the virtual node that stands for the lower cluster. The multi-scheduler reads it to
// answer "can some lower node take this pod?" without watching the lower cluster.
//
// +genclient
// +genclient:nonNamespaced
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type ClusterSummary struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Status is the summary itself; the object has no spec because nobody asks for
	// anything: the virtual node reports.
	Status ClusterSummaryStatus `json:"status,omitempty"`
}

// ResourceAmounts maps a resource name to an integer amount. CPU ("cpu") is in
// millicores; every other resource (memory, ephemeral-storage, pods, hugepages-*,
// extended resources) is in its base unit (bytes, count). Integers keep the summary
// compact and cheap to compare; Quantity strings would cost a parse per read.
type ResourceAmounts map[corev1.ResourceName]int64

// ClusterSummaryStatus describes the schedulable lower nodes grouped by the labels and
// taints that scheduling decisions depend on.
type ClusterSummaryStatus struct {
	// VirtualNode is the name of the upper-cluster node that stands for the lower cluster.
	VirtualNode string `json:"virtualNode"`
	// LowerVersion is the lower cluster's Kubernetes version, when known.
	LowerVersion string `json:"lowerVersion,omitempty"`
	// UpdateTime is when the publisher built this summary from its model. A summary
	// describes the lower cluster as it was at UpdateTime.
	UpdateTime metav1.MicroTime `json:"updateTime"`
	// ContentHash is a digest of everything but UpdateTime: consumers compare it to tell a
	// heartbeat from a change.
	ContentHash string `json:"contentHash,omitempty"`
	// NodeCount is the number of lower nodes the model knows, schedulable or not.
	NodeCount int32 `json:"nodeCount"`
	// SchedulableNodeCount is the number of Ready, schedulable lower nodes; only those
	// appear in Groups and Totals.
	SchedulableNodeCount int32 `json:"schedulableNodeCount"`
	// Totals sums the schedulable nodes.
	Totals SummaryTotals `json:"totals"`
	// IgnoredLabelKeys lists the node label keys left out of group labels. A pod's
	// requirement on one of them cannot be checked from this summary; readers treat it
	// as satisfiable and leave it to the lower scheduler.
	IgnoredLabelKeys []string `json:"ignoredLabelKeys,omitempty"`
	// IgnoredLabelPrefixes lists label key prefixes left out of group labels, with the
	// same meaning as IgnoredLabelKeys.
	IgnoredLabelPrefixes []string `json:"ignoredLabelPrefixes,omitempty"`
	// Groups partitions the schedulable nodes by identical kept labels and scheduling
	// taints (NoSchedule, NoExecute).
	Groups []NodeGroup `json:"groups,omitempty"`
}

// SummaryTotals are sums over the schedulable lower nodes.
type SummaryTotals struct {
	// Allocatable is the sum of the nodes' allocatable resources.
	Allocatable ResourceAmounts `json:"allocatable,omitempty"`
	// Requested is the sum of the requests of every non-terminal pod bound to them.
	Requested ResourceAmounts `json:"requested,omitempty"`
}

// NodeGroup is a set of schedulable lower nodes that share kept labels and taints, so
// that node selectors, affinity and tolerations give the same answer for all of them.
type NodeGroup struct {
	// Labels are the group's kept node labels.
	Labels map[string]string `json:"labels,omitempty"`
	// Taints are the group's NoSchedule and NoExecute taints.
	Taints []corev1.Taint `json:"taints,omitempty"`
	// NodeCount is the number of nodes in the group.
	NodeCount int32 `json:"nodeCount"`
	// Allocatable is the sum of the group's allocatable resources.
	Allocatable ResourceAmounts `json:"allocatable,omitempty"`
	// Free is the sum over the group's nodes of allocatable minus requested, each
	// resource floored at zero per node.
	Free ResourceAmounts `json:"free,omitempty"`
	// MaxFree is, per resource, the largest free amount on any one node of the group.
	// A request above it fits no node of the group.
	MaxFree ResourceAmounts `json:"maxFree,omitempty"`
	// Slots are the largest distinct per-node free vectors, at most the publisher's
	// slot limit, each with the number of nodes that have exactly that much free. A
	// request that fits a slot fits a real node.
	Slots []FreeSlot `json:"slots,omitempty"`
	// Merged is true when this group stands for several groups folded together to keep
	// the summary bounded: its Labels are their common labels and its Taints the union
	// of their taints, so answers from it err on the side of "does not fit".
	Merged bool `json:"merged,omitempty"`
}

// FreeSlot is one free vector and how many nodes of the group have it.
type FreeSlot struct {
	// Free is the free amount per resource on each of these nodes.
	Free ResourceAmounts `json:"free"`
	// Count is the number of nodes with exactly this free vector.
	Count int32 `json:"count"`
}

// ClusterSummaryList is a list of ClusterSummary objects.
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type ClusterSummaryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the summaries.
	Items []ClusterSummary `json:"items"`
}

func init() {
	localSchemeBuilder.Register(addClusterSummaryTypes)
}

// addClusterSummaryTypes registers ClusterSummary and its list with a scheme.
func addClusterSummaryTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(SchemeGroupVersion, &ClusterSummary{}, &ClusterSummaryList{})
	return nil
}
