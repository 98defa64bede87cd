// Package v1 holds the versioned (kubescheduler.config.k8s.io/v1) configuration types
// of the LowerClusterFit scheduler plugin, their defaults and their conversion to the
// internal types.
package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LowerClusterFitArgs configures the LowerClusterFit plugin in a
// KubeSchedulerConfiguration's pluginConfig.
// +k8s:deepcopy-gen=true
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type LowerClusterFitArgs struct {
	metav1.TypeMeta `json:",inline"`

	// VirtualNodeSelector recognises virtual nodes by their labels. Default:
	// matchLabels {type: virtual-kubelet}.
	VirtualNodeSelector *metav1.LabelSelector `json:"virtualNodeSelector,omitempty"`
	// MaxSummaryAge is how old a ClusterSummary may be before the plugin stops
	// trusting it. Default 30s; keep it above the publisher's heartbeat (10s).
	MaxSummaryAge *metav1.Duration `json:"maxSummaryAge,omitempty"`
	// ReservationTTL bounds how long capacity is held for a pod the plugin placed on a
	// virtual node when nothing else releases it. Default 60s.
	ReservationTTL *metav1.Duration `json:"reservationTTL,omitempty"`
}
