// Package descheduler builds the descheduler command: the upstream descheduler
// (sigs.k8s.io/descheduler) with the RecreateUnschedulable plugin registered next to the
// upstream plugins, taking the upstream flags and a normal DeschedulerPolicy
// (descheduler/v1alpha2); see docs/descheduler.md.
package descheduler

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/descheduler/cmd/descheduler/app"
	"sigs.k8s.io/descheduler/pkg/descheduler/scheme"
	"sigs.k8s.io/descheduler/pkg/framework/pluginregistry"

	"github.com/tensile-kube/tensile/pkg/generated/clientset/versioned"
	"github.com/tensile-kube/tensile/pkg/placement"
	"github.com/tensile-kube/tensile/pkg/plugins/recreateunschedulable"
	"github.com/tensile-kube/tensile/pkg/version"
)

// NewCommand returns the upstream descheduler command with RecreateUnschedulable.
func NewCommand() *cobra.Command {
	cmd := app.NewDeschedulerCommand(os.Stdout)
	cmd.AddCommand(app.NewVersionCommand())
	cmd.Version = version.String("descheduler")
	cmd.SetVersionTemplate("{{.Version}}\n")
	utilruntime.Must(recreateunschedulable.AddToScheme(scheme.Scheme))
	registerAfterSetup(cmd)
	return cmd
}

// registerAfterSetup wraps the command's PreRunE: upstream's calls SetupPlugins, which
// replaces the plugin registry with the upstream plugins only, so ours must be added
// after it, and before RunE loads the policy.
func registerAfterSetup(cmd *cobra.Command) {
	upstream := cmd.PreRunE
	cmd.PreRunE = func(c *cobra.Command, args []string) error {
		if upstream != nil {
			if err := upstream(c, args); err != nil {
				return err
			}
		}
		opts, err := pluginOptions(c.Flags())
		if err != nil {
			return err
		}
		recreateunschedulable.Register(pluginregistry.PluginRegistry, opts)
		return nil
	}
}

// pluginOptions builds the plugin's exclusion store from the same connection flags the
// descheduler uses, and passes --dry-run on: the store writes to the real cluster,
// outside the sandbox clientset upstream gives plugins in dry-run mode. In dry-run mode
// it also gives the plugin a client of the real cluster, to fill upstream's sandbox from.
func pluginOptions(fs *pflag.FlagSet) (recreateunschedulable.Options, error) {
	kubeconfig, _ := fs.GetString("kubeconfig")
	dryRun, _ := fs.GetBool("dry-run")
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return recreateunschedulable.Options{}, fmt.Errorf("building the client configuration: %w", err)
	}
	if qps, err := fs.GetFloat32("client-connection-qps"); err == nil && qps > 0 {
		cfg.QPS = qps
	}
	if burst, err := fs.GetInt32("client-connection-burst"); err == nil && burst > 0 {
		cfg.Burst = int(burst)
	}
	cfg.UserAgent = "tensile-descheduler"
	cs, err := versioned.NewForConfig(cfg)
	if err != nil {
		return recreateunschedulable.Options{}, fmt.Errorf("building the tensile.dev client: %w", err)
	}
	store, err := placement.NewClient(cs)
	if err != nil {
		return recreateunschedulable.Options{}, err
	}
	opts := recreateunschedulable.Options{Exclusions: store, DryRun: dryRun}
	if dryRun {
		// Read-only: the plugin lists the cluster into upstream's sandbox (sandbox.go).
		if opts.Live, err = kubernetes.NewForConfig(cfg); err != nil {
			return recreateunschedulable.Options{}, fmt.Errorf("building the client: %w", err)
		}
	}
	return opts, nil
}
