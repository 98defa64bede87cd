package config

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateLowerClusterFitArgs checks defaulted args. path is where the args sit in the
// scheduler configuration, for error messages.
func ValidateLowerClusterFitArgs(path *field.Path, args *LowerClusterFitArgs) error {
	var errs field.ErrorList
	sel := path.Child("virtualNodeSelector")
	switch {
	case args.VirtualNodeSelector == nil:
		errs = append(errs, field.Required(sel, "virtual nodes must be recognisable"))
	case len(args.VirtualNodeSelector.MatchLabels) == 0 && len(args.VirtualNodeSelector.MatchExpressions) == 0:
		errs = append(errs, field.Invalid(sel, args.VirtualNodeSelector, "an empty selector would make every node virtual"))
	default:
		if _, err := metav1.LabelSelectorAsSelector(args.VirtualNodeSelector); err != nil {
			errs = append(errs, field.Invalid(sel, args.VirtualNodeSelector, err.Error()))
		}
	}
	if args.MaxSummaryAge.Duration <= 0 {
		errs = append(errs, field.Invalid(path.Child("maxSummaryAge"), args.MaxSummaryAge.Duration.String(), "must be positive"))
	}
	if args.ReservationTTL.Duration <= 0 {
		errs = append(errs, field.Invalid(path.Child("reservationTTL"), args.ReservationTTL.Duration.String(), "must be positive"))
	}
	return errs.ToAggregate()
}
