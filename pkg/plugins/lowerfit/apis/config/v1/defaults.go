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

// DefaultVirtualNodeLabels are the labels that mark a virtual node by default.
var DefaultVirtualNodeLabels = map[string]string{vnodeident.LabelType: vnodeident.ValueVirtualKubelet}

// SetDefaults_LowerClusterFitArgs fills unset fields.
//
//nolint:revive,stylecheck // the name follows the apimachinery defaulter convention.
func SetDefaults_LowerClusterFitArgs(args *LowerClusterFitArgs) {
	if args.VirtualNodeSelector == nil {
		labels := make(map[string]string, len(DefaultVirtualNodeLabels))
		for k, v := range DefaultVirtualNodeLabels {
			labels[k] = v
		}
		args.VirtualNodeSelector = &metav1.LabelSelector{MatchLabels: labels}
	}
	if args.MaxSummaryAge == nil {
		args.MaxSummaryAge = &metav1.Duration{Duration: DefaultMaxSummaryAge}
	}
	if args.ReservationTTL == nil {
		args.ReservationTTL = &metav1.Duration{Duration: DefaultReservationTTL}
	}
}
