package recreateunschedulable

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateRecreateUnschedulableArgs validates a *RecreateUnschedulableArgs. The
// descheduler validates before it defaults, so unset fields are valid here.
func ValidateRecreateUnschedulableArgs(obj runtime.Object) error {
	args, ok := obj.(*RecreateUnschedulableArgs)
	if !ok {
		return fmt.Errorf("want args of type RecreateUnschedulableArgs, got %T", obj)
	}
	return validateArgs(args, nil).ToAggregate()
}

// validateArgs returns every problem of args, with paths under path.
func validateArgs(args *RecreateUnschedulableArgs, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if ns := args.Namespaces; ns != nil && len(ns.Include) > 0 && len(ns.Exclude) > 0 {
		errs = append(errs, field.Forbidden(path.Child("namespaces"), "only one of include and exclude may be set"))
	}
	errs = append(errs, validateSelector(args.LabelSelector, path.Child("labelSelector"))...)
	errs = append(errs, validateSelector(args.VirtualNodeSelector, path.Child("virtualNodeSelector"))...)
	if s := args.VirtualNodeSelector; s != nil && len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0 {
		errs = append(errs, field.Invalid(path.Child("virtualNodeSelector"), s, "must not select every node"))
	}
	errs = append(errs, validateDuration(args.UnschedulableGracePeriod, false, path.Child("unschedulableGracePeriod"))...)
	errs = append(errs, validateDuration(args.MaxPendingTime, false, path.Child("maxPendingTime"))...)
	errs = append(errs, validateDuration(args.ExclusionTTL, true, path.Child("exclusionTTL"))...)
	if m := args.MaxRecreations; m != nil && *m < 1 {
		errs = append(errs, field.Invalid(path.Child("maxRecreations"), *m, "must be at least 1 (disable the plugin instead)"))
	}
	return errs
}

func validateSelector(s *metav1.LabelSelector, path *field.Path) field.ErrorList {
	if s == nil {
		return nil
	}
	if _, err := metav1.LabelSelectorAsSelector(s); err != nil {
		return field.ErrorList{field.Invalid(path, s, err.Error())}
	}
	return nil
}

func validateDuration(d *metav1.Duration, positive bool, path *field.Path) field.ErrorList {
	switch {
	case d == nil:
		return nil
	case d.Duration < 0:
		return field.ErrorList{field.Invalid(path, d.Duration.String(), "must not be negative")}
	case positive && d.Duration == 0:
		return field.ErrorList{field.Invalid(path, d.Duration.String(), "must be positive")}
	}
	return nil
}
