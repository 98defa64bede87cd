package config

import (
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"
	schedscheme "k8s.io/kubernetes/pkg/scheduler/apis/config/scheme"
)

// SchemeGroupVersion is kube-scheduler's internal config version.
var SchemeGroupVersion = schedconfig.SchemeGroupVersion

// AddToScheme registers the internal args types with a scheme.
var AddToScheme = addKnownTypes

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(SchemeGroupVersion, &LowerClusterFitArgs{})
	return nil
}

func init() {
	// kube-scheduler builds its plugin-args conversion scheme lazily from this
	// builder, and its decoding scheme eagerly at init: join both.
	schedconfig.SchemeBuilder.Register(addKnownTypes)
	utilruntime.Must(addKnownTypes(schedscheme.Scheme))
}
