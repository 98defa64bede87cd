package v1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tensile-kube/tensile/pkg/vnodeident"
)

// Defaults of LowerClusterFitArgs.
const (
	DefaultMaxSummaryAge  = 30 * time.Second
	DefaultReservationTTL = 60 * time.Second
)

// DefaultVirtualNodeLabels returns the labels that mark a virtual node by default (a
// new map each call).
func DefaultVirtualNodeLabels() map[string]string {
	return map[string]string{vnodeident.LabelType: vnodeident.ValueVirtualKubelet}
}

// SetDefaults_LowerClusterFitArgs fills unset fields.
//
//nolint:revive,stylecheck // the name follows the apimachinery defaulter convention.
func SetDefaults_LowerClusterFitArgs(args *LowerClusterFitArgs) {
	if args.VirtualNodeSelector == nil {
		args.VirtualNodeSelector = &metav1.LabelSelector{MatchLabels: DefaultVirtualNodeLabels()}
	}
	if args.MaxSummaryAge == nil {
		args.MaxSummaryAge = &metav1.Duration{Duration: DefaultMaxSummaryAge}
	}
	if args.ReservationTTL == nil {
		args.ReservationTTL = &metav1.Duration{Duration: DefaultReservationTTL}
	}
}
