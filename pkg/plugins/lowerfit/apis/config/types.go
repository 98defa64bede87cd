// Package config holds the internal (unversioned) configuration types of the
// LowerClusterFit scheduler plugin, registered into kube-scheduler's own config scheme
// as out-of-tree plugins do.
package config

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LowerClusterFitArgs configures the LowerClusterFit plugin.
// +k8s:deepcopy-gen=true
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type LowerClusterFitArgs struct {
	metav1.TypeMeta

	// VirtualNodeSelector recognises virtual nodes by their labels. Other nodes are
	// left alone by the plugin.
	VirtualNodeSelector *metav1.LabelSelector
	// MaxSummaryAge is how old a virtual node's ClusterSummary may be before the
	// plugin stops trusting it and turns pods away from that node.
	MaxSummaryAge metav1.Duration
	// ReservationTTL is how long capacity charged for a pod the plugin placed on a
	// virtual node is held at most, if nothing else releases it first.
	ReservationTTL metav1.Duration
}
