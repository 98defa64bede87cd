package recreateunschedulable

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/descheduler/pkg/api"
)

// +k8s:deepcopy-gen=true
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// RecreateUnschedulableArgs holds the arguments of the RecreateUnschedulable plugin.
// Unset fields take the defaults of SetDefaults_RecreateUnschedulableArgs.
type RecreateUnschedulableArgs struct {
	metav1.TypeMeta `json:",inline"`

	// Namespaces limits the plugin to, or keeps it out of, some namespaces.
	Namespaces *api.Namespaces `json:"namespaces,omitempty"`
	// LabelSelector limits the plugin to the pods it selects.
	LabelSelector *metav1.LabelSelector `json:"labelSelector,omitempty"`
	// VirtualNodeSelector selects the virtual nodes among the nodes the descheduler
	// sees. Default: type=virtual-kubelet.
	VirtualNodeSelector *metav1.LabelSelector `json:"virtualNodeSelector,omitempty"`
	// UnschedulableGracePeriod is how long a pod must have been reported
	// PodScheduled=False/Unschedulable by its lower cluster before it is moved, so the
	// lower cluster (or its autoscaler) gets a chance first. Default: 2m.
	UnschedulableGracePeriod *metav1.Duration `json:"unschedulableGracePeriod,omitempty"`
	// MaxPendingTime moves a pod its lower cluster has reported PodScheduled=False
	// this long, whatever the reason (Unschedulable, SchedulingGated, SchedulerError),
	// counted from the condition's lastTransitionTime. A pod the lower cluster has
	// placed is never moved for being Pending (pulling images, running init
	// containers). 0 disables it. Default: 15m.
	MaxPendingTime *metav1.Duration `json:"maxPendingTime,omitempty"`
	// ExclusionTTL is how long a virtual node stays excluded for a workload, after
	// which a lower cluster that gained capacity is tried again. Default: 30m.
	ExclusionTTL *metav1.Duration `json:"exclusionTTL,omitempty"`
	// MaxRecreations caps how often one workload is moved: re-creations of a bare pod,
	// or distinct exclusions recorded for a controller. Past it the pod is left alone
	// with an Event. Default: 3.
	MaxRecreations *int32 `json:"maxRecreations,omitempty"`
}
