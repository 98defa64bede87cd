package recreateunschedulable

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/tensile-kube/tensile/pkg/vnodeident"
)

// The defaults of RecreateUnschedulableArgs.
const (
	DefaultUnschedulableGracePeriod = 2 * time.Minute
	DefaultMaxPendingTime           = 15 * time.Minute
	DefaultExclusionTTL             = 30 * time.Minute
	DefaultMaxRecreations           = int32(3)
	// VirtualNodeLabel and VirtualNodeLabelValue mark a virtual node.
	VirtualNodeLabel      = vnodeident.LabelType
	VirtualNodeLabelValue = vnodeident.ValueVirtualKubelet
)

func addDefaultingFuncs(scheme *runtime.Scheme) error {
	return RegisterDefaults(scheme)
}

// SetDefaults_RecreateUnschedulableArgs fills the unset fields of a
// *RecreateUnschedulableArgs. The descheduler calls it after validation, through the
// plugin registry.
//
//nolint:revive,staticcheck // The name follows the defaulter-gen convention upstream plugins use.
func SetDefaults_RecreateUnschedulableArgs(obj runtime.Object) {
	args, ok := obj.(*RecreateUnschedulableArgs)
	if !ok {
		return
	}
	if args.VirtualNodeSelector == nil {
		args.VirtualNodeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{VirtualNodeLabel: VirtualNodeLabelValue}}
	}
	if args.UnschedulableGracePeriod == nil {
		args.UnschedulableGracePeriod = &metav1.Duration{Duration: DefaultUnschedulableGracePeriod}
	}
	if args.MaxPendingTime == nil {
		args.MaxPendingTime = &metav1.Duration{Duration: DefaultMaxPendingTime}
	}
	if args.ExclusionTTL == nil {
		args.ExclusionTTL = &metav1.Duration{Duration: DefaultExclusionTTL}
	}
	if args.MaxRecreations == nil {
		args.MaxRecreations = ptr.To(DefaultMaxRecreations)
	}
}
