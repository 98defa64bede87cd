package virtualnode

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/component-base/logs"
	logsapi "k8s.io/component-base/logs/api/v1"
	"k8s.io/component-base/version"
	"k8s.io/klog/v2"

	vklog "github.com/virtual-kubelet/virtual-kubelet/log"
	vkklog "github.com/virtual-kubelet/virtual-kubelet/log/klogv2"

	tversion "github.com/tensile-kube/tensile/pkg/version"
)

// NewCommand returns the virtual-node command.
func NewCommand() *cobra.Command {
	o := NewOptions()
	logConfig := logsapi.NewLoggingConfiguration()
	var showVersion bool
	cmd := &cobra.Command{
		Use:   "virtual-node",
		Short: "Join a lower Kubernetes cluster to an upper one as one virtual node",
		Long: `virtual-node registers a node in the upper cluster whose capacity is the lower
cluster's, creates the pods bound to it (and the ConfigMaps, Secrets and PVCs they use)
in the lower cluster, and mirrors their status and events back up.`,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if showVersion {
				fmt.Fprintln(cmd.OutOrStdout(), tversion.String("virtual-node"), "kubernetes", version.Get().GitVersion)
				return nil
			}
			if err := logsapi.ValidateAndApply(logConfig, nil); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			vklog.L = vkklog.New(nil)
			ctx := klog.NewContext(cmd.Context(), klog.Background())
			return Run(ctx, o)
		},
	}
	fs := cmd.Flags()
	o.AddFlags(fs)
	logsapi.AddFlags(logConfig, fs)
	fs.BoolVar(&showVersion, "version", false, "Print the version and exit.")
	logs.AddFlags(fs)
	return cmd
}
