package recreateunschedulable

import (
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/descheduler/pkg/framework/pluginregistry"
)

var (
	// SchemeBuilder registers the plugin's defaulting functions.
	SchemeBuilder      = runtime.NewSchemeBuilder()
	localSchemeBuilder = &SchemeBuilder
	// AddToScheme adds the plugin's defaulting functions to a scheme, as upstream
	// plugins do for the descheduler's scheme.
	AddToScheme = localSchemeBuilder.AddToScheme
)

func init() {
	// Only hand-written functions are registered here; zz_generated.defaults.go adds
	// the generated ones.
	localSchemeBuilder.Register(addDefaultingFuncs)
}

// Register adds the plugin, built with opts, to registry next to the upstream
// plugins. The descheduler command replaces its registry when it starts, so call this
// after descheduler.SetupPlugins.
func Register(registry pluginregistry.Registry, opts Options) {
	pluginregistry.Register(PluginName, NewBuilder(opts), &RecreateUnschedulable{}, &RecreateUnschedulableArgs{},
		ValidateRecreateUnschedulableArgs, SetDefaults_RecreateUnschedulableArgs, registry)
}
