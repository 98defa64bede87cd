package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/conversion"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	schedconfigv1 "k8s.io/kube-scheduler/config/v1"
	schedscheme "k8s.io/kubernetes/pkg/scheduler/apis/config/scheme"

	"github.com/tensile-kube/tensile/pkg/plugins/lowerfit/apis/config"
)

// SchemeGroupVersion is kubescheduler.config.k8s.io/v1.
var SchemeGroupVersion = schedconfigv1.SchemeGroupVersion

// AddToScheme registers the versioned args type, its defaults and its conversions.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(SchemeGroupVersion, &LowerClusterFitArgs{})
	s.AddTypeDefaultingFunc(&LowerClusterFitArgs{}, func(obj any) { SetDefaults_LowerClusterFitArgs(obj.(*LowerClusterFitArgs)) })
	if err := s.AddConversionFunc((*LowerClusterFitArgs)(nil), (*config.LowerClusterFitArgs)(nil),
		func(a, b any, _ conversion.Scope) error {
			Convert_v1_LowerClusterFitArgs_To_config_LowerClusterFitArgs(a.(*LowerClusterFitArgs), b.(*config.LowerClusterFitArgs))
			return nil
		}); err != nil {
		return err
	}
	return s.AddConversionFunc((*config.LowerClusterFitArgs)(nil), (*LowerClusterFitArgs)(nil),
		func(a, b any, _ conversion.Scope) error {
			Convert_config_LowerClusterFitArgs_To_v1_LowerClusterFitArgs(a.(*config.LowerClusterFitArgs), b.(*LowerClusterFitArgs))
			return nil
		})
}

func init() {
	// kube-scheduler defaults and converts plugin args with a scheme it builds lazily
	// from this builder, and decodes them with one it builds at init: join both, as
	// out-of-tree plugins (scheduler-plugins) do.
	schedconfigv1.SchemeBuilder.Register(AddToScheme)
	utilruntime.Must(AddToScheme(schedscheme.Scheme))
}

// Convert_v1_LowerClusterFitArgs_To_config_LowerClusterFitArgs converts versioned args
// to internal ones; unset fields stay zero (defaulting runs before conversion).
//
//nolint:revive,stylecheck // the name follows the apimachinery conversion convention.
func Convert_v1_LowerClusterFitArgs_To_config_LowerClusterFitArgs(in *LowerClusterFitArgs, out *config.LowerClusterFitArgs) {
	out.VirtualNodeSelector = in.VirtualNodeSelector.DeepCopy()
	out.MaxSummaryAge, out.ReservationTTL = metav1.Duration{}, metav1.Duration{}
	if in.MaxSummaryAge != nil {
		out.MaxSummaryAge = *in.MaxSummaryAge
	}
	if in.ReservationTTL != nil {
		out.ReservationTTL = *in.ReservationTTL
	}
}

// Convert_config_LowerClusterFitArgs_To_v1_LowerClusterFitArgs converts internal args
// to versioned ones.
//
//nolint:revive,stylecheck // the name follows the apimachinery conversion convention.
func Convert_config_LowerClusterFitArgs_To_v1_LowerClusterFitArgs(in *config.LowerClusterFitArgs, out *LowerClusterFitArgs) {
	out.VirtualNodeSelector = in.VirtualNodeSelector.DeepCopy()
	age, ttl := in.MaxSummaryAge, in.ReservationTTL
	out.MaxSummaryAge, out.ReservationTTL = &age, &ttl
}
