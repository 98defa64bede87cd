// Package app is the webhook command: its flags and the wiring of the clients, the
// exclusion cache, the handler and the server around package webhook; see
// docs/webhook.md.
package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/component-base/logs"
	logsapi "k8s.io/component-base/logs/api/v1"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/tensile-kube/tensile/internal/webhook"
	"github.com/tensile-kube/tensile/pkg/generated/clientset/versioned"
	"github.com/tensile-kube/tensile/pkg/placement"
	"github.com/tensile-kube/tensile/pkg/version"
	"github.com/tensile-kube/tensile/pkg/vnodeident"
)

// options are the command's flags.
type options struct {
	bindAddress, healthBindAddress string
	securePort                     int
	certFile, keyFile, caFile      string
	certDNSNames                   []string
	certIPs                        []net.IP
	kubeconfig                     string
	configName                     string
	manageConfig                   bool
	webhookURL                     string
	serviceNamespace, serviceName  string
	servicePort                    int32
	failurePolicy                  string
	daemonSets                     bool
	trustedUsers                   []string
	mutate                         webhook.Options
	logs                           *logsapi.LoggingConfiguration
}

func (o *options) addFlags(fs *pflag.FlagSet) {
	def := webhook.DefaultOptions()
	fs.StringVar(&o.bindAddress, "bind-address", "0.0.0.0", "IP address the HTTPS webhook listens on.")
	fs.IntVar(&o.securePort, "secure-port", 9443, "Port the HTTPS webhook listens on (path "+webhook.MutatePath+").")
	fs.StringVar(&o.healthBindAddress, "health-bind-address", "127.0.0.1:8081", "host:port of the plain-HTTP /healthz, /readyz and /metrics endpoint; empty disables it.")
	fs.StringVar(&o.certFile, "tls-cert-file", "", "Serving certificate (PEM). With --tls-private-key-file; when both are empty a CA and a serving certificate are generated at start.")
	fs.StringVar(&o.keyFile, "tls-private-key-file", "", "Private key of --tls-cert-file (PEM).")
	fs.StringVar(&o.caFile, "ca-bundle-file", "", "With --tls-cert-file: CA (PEM) to write into the webhook configuration's caBundle; empty leaves caBundle alone.")
	fs.StringSliceVar(&o.certDNSNames, "cert-dns-names", []string{"localhost"}, "DNS names a generated certificate is valid for, e.g. <service>.<namespace>.svc.")
	fs.IPSliceVar(&o.certIPs, "cert-ips", []net.IP{net.ParseIP("127.0.0.1")}, "IP addresses a generated certificate is valid for.")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "Kubeconfig of the upper cluster; empty means in-cluster configuration.")
	fs.StringVar(&o.configName, "webhook-config-name", "tensile-webhook", "MutatingWebhookConfiguration whose caBundle this webhook keeps current; empty disables.")
	fs.BoolVar(&o.manageConfig, "manage-webhook-config", false, "Create or update the MutatingWebhookConfiguration itself (needs --webhook-url or --service-name).")
	fs.StringVar(&o.webhookURL, "webhook-url", "", "With --manage-webhook-config: URL the API server calls, for a webhook outside the cluster, e.g. https://127.0.0.1:9443"+webhook.MutatePath+".")
	fs.StringVar(&o.serviceNamespace, "service-namespace", "kube-system", "With --manage-webhook-config: namespace of the webhook's Service.")
	fs.StringVar(&o.serviceName, "service-name", "", "With --manage-webhook-config: name of the webhook's Service.")
	fs.Int32Var(&o.servicePort, "service-port", 443, "With --manage-webhook-config: port of the webhook's Service.")
	fs.StringVar(&o.failurePolicy, "failure-policy", string(admissionregistrationv1.Fail), "With --manage-webhook-config: Fail or Ignore, for the pods webhook (the DaemonSets webhook always has Ignore).")
	fs.BoolVar(&o.daemonSets, "daemonsets", true, "Keep DaemonSets off virtual nodes on CREATE and UPDATE unless their pod template is annotated "+vnodeident.AnnotationDaemonSetPods+": "+vnodeident.ValueAllow+" (the virtual node refuses their pods anyway, which stalls rollouts). false passes them through unchanged and, with --manage-webhook-config, leaves the "+webhook.DaemonSetWebhookName+" webhook out of the registration.")
	fs.StringSliceVar(&o.trustedUsers, "trusted-users", webhook.DefaultTrustedUsers(), "User names whose new pods keep every "+webhook.ReservedPrefix+"* annotation they carry (the descheduler re-creating bare pods). Everyone else's pods lose those their authors may not set, with an admission warning.")
	fs.StringSliceVar(&o.mutate.IgnoreKeys, "ignore-keys", def.IgnoreKeys, "Node label keys that describe upper (virtual) nodes: nodeSelector entries and required node affinity expressions with these keys stay in the upper pod.")
	fs.StringVar(&o.mutate.ProviderTaintKey, "provider-taint-key", def.ProviderTaintKey, "Key of the virtual nodes' NoSchedule taint, tolerated by every virtual pod.")
	o.logs = logsapi.NewLoggingConfiguration()
	logsapi.AddFlags(o.logs, fs)
}

// registration returns the webhook configuration the flags describe.
func (o *options) registration() (webhook.Registration, error) {
	reg := webhook.Registration{Name: o.configName, FailurePolicy: admissionregistrationv1.FailurePolicyType(o.failurePolicy), SkipDaemonSets: !o.daemonSets}
	if !o.manageConfig {
		return reg, nil
	}
	switch {
	case o.configName == "":
		return reg, errors.New("--manage-webhook-config needs --webhook-config-name")
	case reg.FailurePolicy != admissionregistrationv1.Fail && reg.FailurePolicy != admissionregistrationv1.Ignore:
		return reg, fmt.Errorf("--failure-policy must be Fail or Ignore, not %q", o.failurePolicy)
	case (o.webhookURL == "") == (o.serviceName == ""):
		return reg, errors.New("--manage-webhook-config needs exactly one of --webhook-url and --service-name")
	case o.webhookURL != "":
		reg.URL = o.webhookURL
	default:
		reg.Service = &admissionregistrationv1.ServiceReference{
			Namespace: o.serviceNamespace, Name: o.serviceName, Port: ptr.To(o.servicePort), Path: ptr.To(webhook.MutatePath),
		}
	}
	return reg, nil
}

// sealer returns the webhook's constraints sealer. Its key derives from the serving
// key file when there is one, which replicas behind one Service share, so each accepts
// the others' seals; a generated certificate means one replica, and a key of its own.
func (o *options) sealer() (*webhook.Sealer, error) {
	if o.keyFile == "" {
		return webhook.NewSealer(nil), nil
	}
	secret, err := os.ReadFile(o.keyFile)
	if err != nil {
		return nil, fmt.Errorf("reading --tls-private-key-file for the seal key: %w", err)
	}
	return webhook.NewSealer(secret), nil
}

// NewCommand returns the webhook command.
func NewCommand() *cobra.Command {
	o := &options{}
	cmd := &cobra.Command{
		Use:          "webhook",
		Short:        "Mutating admission webhook that prepares pods for tensile virtual nodes and keeps DaemonSets off them",
		Version:      version.String("webhook"),
		SilenceUsage: true,
		Args:         cobra.NoArgs,
		PreRunE: func(*cobra.Command, []string) error {
			logs.InitLogs()
			return logsapi.ValidateAndApply(o.logs, nil)
		},
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(c.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return run(ctx, o)
		},
	}
	cmd.SetVersionTemplate("{{.Version}}\n")
	o.addFlags(cmd.Flags())
	return cmd
}

// run wires the clients, the exclusion cache, the handler and the server.
func run(ctx context.Context, o *options) error {
	logger := klog.FromContext(ctx)
	reg, err := o.registration()
	if err != nil {
		return err
	}
	for _, note := range o.mutate.Drift() {
		logger.Info("Configured away from the virtual node's conventions; make sure it is meant", "note", note)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	if err != nil {
		return fmt.Errorf("building the client configuration: %w", err)
	}
	cfg.UserAgent = "tensile-webhook"
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("building the client: %w", err)
	}
	cs, err := versioned.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("building the tensile.dev client: %w", err)
	}
	records, err := placement.NewCache(cs, 0)
	if err != nil {
		return err
	}
	sealer, err := o.sealer()
	if err != nil {
		return err
	}
	handler := webhook.NewHandler(webhook.HandlerConfig{
		Options: o.mutate, Exclusions: webhook.NewRecordExclusions(records), SkipDaemonSets: !o.daemonSets,
		TrustedUsers: o.trustedUsers, Sealer: sealer,
	})
	srv, err := webhook.NewServer(webhook.Config{
		Addr:       net.JoinHostPort(o.bindAddress, strconv.Itoa(o.securePort)),
		HealthAddr: o.healthBindAddress,
		CertFile:   o.certFile, KeyFile: o.keyFile, CABundleFile: o.caFile,
		CertDNSNames: o.certDNSNames, CertIPs: o.certIPs,
		Registration: reg, ManageRegistration: o.manageConfig,
		Handler: handler, Kube: kube, Ready: records.HasSynced,
	})
	if err != nil {
		return err
	}
	go records.Run(ctx)
	go func() {
		// Not ready until the cache loads; say why while it does not.
		_ = wait.PollUntilContextCancel(ctx, 30*time.Second, false, func(context.Context) (bool, error) {
			if !records.HasSynced() {
				logger.Info("Waiting for placement exclusions to load (is the PlacementExclusion CRD installed?)")
			}
			return records.HasSynced(), nil
		})
	}()
	return srv.Run(ctx)
}
