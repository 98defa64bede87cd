// Package tensilectl is the tensilectl command (join, unjoin, status, version) over
// package join; see docs/tensilectl.md.
package tensilectl

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/component-base/logs"
	logsapi "k8s.io/component-base/logs/api/v1"
	"k8s.io/component-base/version"
	"k8s.io/klog/v2"

	"github.com/tensile-kube/tensile/internal/join"
	"github.com/tensile-kube/tensile/manifests"
	tversion "github.com/tensile-kube/tensile/pkg/version"
)

// clusterFlags are the kubeconfig flags of one cluster.
type clusterFlags struct {
	role, kubeconfig, context string
}

func (f *clusterFlags) addFlags(fs *pflag.FlagSet, usage string) {
	fs.StringVar(&f.kubeconfig, f.role+"-kubeconfig", f.kubeconfig, "Kubeconfig of the "+f.role+" cluster"+usage+".")
	fs.StringVar(&f.context, f.role+"-context", f.context, "Context of --"+f.role+"-kubeconfig to use. Empty: its current context.")
}

func (f *clusterFlags) load() (*join.Cluster, error) {
	if f.role == "lower" && f.kubeconfig == "" {
		return nil, fmt.Errorf("--lower-kubeconfig is required")
	}
	return join.LoadCluster(f.role, f.kubeconfig, f.context)
}

// globalOptions are the flags every subcommand has.
type globalOptions struct {
	upper   clusterFlags
	timeout time.Duration
	logs    *logsapi.LoggingConfiguration
}

// NewCommand returns the command, named name in its usage (tensilectl, or kubectl
// tensile as a kubectl plugin).
func NewCommand(name string) *cobra.Command {
	g := &globalOptions{upper: clusterFlags{role: "upper"}, timeout: time.Minute, logs: logsapi.NewLoggingConfiguration()}
	cmd := &cobra.Command{
		Use:   name,
		Short: "Join lower Kubernetes clusters to an upper one as virtual nodes",
		Long: `tensilectl joins a lower cluster to an upper one as one virtual node (join), shows
the virtual nodes (status) and removes a join again (unjoin). Everything join creates
is labelled app.kubernetes.io/managed-by=tensilectl and tensile.dev/joined-node=<name>.`,
		SilenceUsage:  true,
		SilenceErrors: false,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			return logsapi.ValidateAndApply(g.logs, nil)
		},
	}
	fs := cmd.PersistentFlags()
	g.upper.addFlags(fs, " (empty: $KUBECONFIG or ~/.kube/config)")
	fs.DurationVar(&g.timeout, "timeout", g.timeout, "Longest wait for a cluster to answer, a token to appear, a node to stop or pods to leave.")
	logsapi.AddFlags(g.logs, fs)
	logs.AddFlags(fs)
	cmd.AddCommand(newJoinCommand(g), newStatusCommand(g), newUnjoinCommand(g), newVersionCommand())
	return cmd
}

func (g *globalOptions) options(cmd *cobra.Command, lower *clusterFlags) (join.Options, error) {
	o := join.Options{Timeout: g.timeout, Out: cmd.OutOrStdout()}
	if g.timeout <= 0 {
		return o, fmt.Errorf("--timeout must be positive")
	}
	var err error
	if o.Upper, err = g.upper.load(); err != nil {
		return o, err
	}
	if lower != nil {
		if o.Lower, err = lower.load(); err != nil {
			return o, err
		}
	}
	return o, nil
}

func newJoinCommand(g *globalOptions) *cobra.Command {
	lower := &clusterFlags{role: "lower"}
	p := join.Plan{Namespace: "tensile-system", Image: "ghcr.io/tensile-kube/virtual-node:" + tversion.Version, Manifests: manifests.VirtualNode}
	cmd := &cobra.Command{
		Use:   "join --lower-kubeconfig B --name NAME",
		Short: "Join a lower cluster as the virtual node NAME",
		Long: `join checks both clusters first (reachable, allowed, recent enough, the CRDs above, the
name free, the lower cluster not joined already) and writes nothing if a check fails.
Then, in the lower cluster, it creates a ServiceAccount with the rules of
manifests/virtual-node/rbac-lower.yaml, a long-lived token Secret for it and a join
record; in the upper cluster the namespace, a Secret with a kubeconfig for that
ServiceAccount, the rules of rbac-upper.yaml and the Deployment of deployment.yaml.
Running it again changes nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := g.options(cmd, lower)
			if err != nil {
				return err
			}
			return join.Join(klog.NewContext(cmd.Context(), klog.Background()), o, p)
		},
	}
	fs := cmd.Flags()
	lower.addFlags(fs, " to join (required)")
	fs.StringVar(&p.Node, "name", p.Node, "Name of the virtual node in the upper cluster (required).")
	fs.StringVar(&p.Namespace, "namespace", p.Namespace, "Namespace of the ServiceAccount, Secrets and Deployment, in both clusters.")
	fs.StringVar(&p.Image, "image", p.Image, "Image of the virtual node's Deployment.")
	fs.StringVar(&p.LowerNamespace, "lower-namespace", p.LowerNamespace, "The virtual node's --lower-namespace template (e.g. \"{namespace}-{node}\" when another virtual node of this upper cluster may join the same lower cluster). Empty: namespaces keep their names below.")
	return cmd
}

func newUnjoinCommand(g *globalOptions) *cobra.Command {
	lower := &clusterFlags{role: "lower"}
	var node string
	var drain bool
	cmd := &cobra.Command{
		Use:   "unjoin --lower-kubeconfig B --name NAME [--drain]",
		Short: "Remove the virtual node NAME and everything its join and the node created",
		Long: `unjoin cordons the node and refuses while pods run on it, unless --drain: then it
evicts them and waits (--timeout). It deletes the Deployment and waits until the
virtual node stopped, deletes the Node, then everything join created in both clusters
and every lower object the virtual node owns.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := g.options(cmd, lower)
			if err != nil {
				return err
			}
			return join.Unjoin(klog.NewContext(cmd.Context(), klog.Background()), o, node, drain)
		},
	}
	fs := cmd.Flags()
	lower.addFlags(fs, " the node stands for (required)")
	fs.StringVar(&node, "name", node, "Name of the virtual node (required).")
	fs.BoolVar(&drain, "drain", drain, "Evict the pods on the node and wait for them to go, instead of refusing.")
	return cmd
}

func newStatusCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the virtual nodes: lower cluster reachable, Ready, capacity, pods, summary age",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := g.options(cmd, nil)
			if err != nil {
				return err
			}
			rows, err := join.Status(klog.NewContext(cmd.Context(), klog.Background()), o)
			if err != nil {
				return err
			}
			return join.PrintStatus(cmd.OutOrStdout(), rows)
		},
	}
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), tversion.String("tensilectl"), "kubernetes", version.Get().GitVersion)
		},
	}
}
