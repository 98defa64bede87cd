// Package virtualnode is the virtual-node command: flags, validation, clients, and the
// wiring of virtual-kubelet's node with this project's provider, capacity model and
// kubelet API.
package virtualnode

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	cliflag "k8s.io/component-base/cli/flag"

	"github.com/tensile-kube/tensile/internal/provider"
	"github.com/tensile-kube/tensile/internal/translate"
	"github.com/tensile-kube/tensile/pkg/vnodeident"
)

// Options are the virtual-node command's flags.
type Options struct {
	NodeName         string
	Kubeconfig       string
	ClientKubeconfig string
	UpperQPS         float32
	UpperBurst       int
	LowerQPS         float32
	LowerBurst       int

	NodeLabels           map[string]string
	NodeTaints           []string
	DisableProviderTaint bool
	ProviderName         string
	OperatingSystem      string
	Architecture         string

	Workers               int
	MinStatusInterval     time.Duration
	RetryBaseDelay        time.Duration
	RetryMaxDelay         time.Duration
	UpperClusterID        string
	LowerNamespace        string
	LowerSAToken          bool
	ReflectSystemServices bool

	// KubeAPIContentType is the wire format of built-in kinds towards both API servers.
	KubeAPIContentType string
	MetricsBindAddress string
	Profiling          bool
	ListenAddress      string
	NodeIP             string
	TLSCertFile        string
	TLSKeyFile         string
	ClientCAFile       string
	SelfSignedCert     bool
	CertDir            string
	ApproveOwnCSR      bool
	LowerMetricsKWOK   bool
	PublishSummary     bool

	LeaderElect          bool
	LeaderElectNamespace string
	LeaseDuration        time.Duration
	RenewDeadline        time.Duration
	RetryPeriod          time.Duration
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{
		UpperQPS: 100, UpperBurst: 200, LowerQPS: 200, LowerBurst: 400,
		NodeLabels:           map[string]string{},
		ProviderName:         "tensile",
		OperatingSystem:      "linux",
		Architecture:         "amd64",
		Workers:              16,
		MinStatusInterval:    time.Second,
		RetryBaseDelay:       provider.DefaultRetryBaseDelay,
		RetryMaxDelay:        provider.DefaultRetryMaxDelay,
		PublishSummary:       true,
		LowerNamespace:       translate.PlaceholderNamespace,
		LowerSAToken:         true,
		KubeAPIContentType:   runtime.ContentTypeProtobuf,
		MetricsBindAddress:   "127.0.0.1:10256",
		ListenAddress:        "127.0.0.1:10250",
		NodeIP:               "127.0.0.1",
		LeaderElectNamespace: "kube-node-lease",
		LeaseDuration:        15 * time.Second,
		RenewDeadline:        10 * time.Second,
		RetryPeriod:          2 * time.Second,
	}
}

// AddFlags registers the flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.NodeName, "nodename", o.NodeName, "Name of the virtual node in the upper cluster (required).")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "Kubeconfig of the upper cluster, where the node registers. Empty: in-cluster config or $KUBECONFIG.")
	fs.StringVar(&o.ClientKubeconfig, "client-kubeconfig", o.ClientKubeconfig, "Kubeconfig of the lower cluster, where the pods run (required).")
	fs.Float32Var(&o.UpperQPS, "kube-api-qps", o.UpperQPS, "QPS towards the upper API server.")
	fs.IntVar(&o.UpperBurst, "kube-api-burst", o.UpperBurst, "Burst towards the upper API server.")
	fs.Float32Var(&o.LowerQPS, "client-api-qps", o.LowerQPS, "QPS towards the lower API server.")
	fs.IntVar(&o.LowerBurst, "client-api-burst", o.LowerBurst, "Burst towards the lower API server.")
	fs.Var(cliflag.NewMapStringString(&o.NodeLabels), "node-labels", "Extra labels of the node, key=value pairs separated by ','.")
	fs.StringSliceVar(&o.NodeTaints, "register-with-taints", o.NodeTaints, "Extra taints of the node, key=value:Effect, separated by ','.")
	fs.BoolVar(&o.DisableProviderTaint, "disable-provider-taint", o.DisableProviderTaint, "Do not taint the node virtual-kubelet.io/provider=<provider>:NoSchedule.")
	fs.StringVar(&o.ProviderName, "provider", o.ProviderName, "Provider name: the value of the provider taint.")
	fs.StringVar(&o.OperatingSystem, "os", o.OperatingSystem, "Operating system the node reports (kubernetes.io/os).")
	fs.StringVar(&o.Architecture, "arch", o.Architecture, "Architecture the node reports (kubernetes.io/arch).")
	fs.IntVar(&o.Workers, "workers", o.Workers, "Concurrent pod workers (upper->lower and status).")
	fs.DurationVar(&o.MinStatusInterval, "min-status-interval", o.MinStatusInterval, "Shortest interval between two node status writes caused by capacity changes.")
	fs.DurationVar(&o.RetryBaseDelay, "retry-base-delay", o.RetryBaseDelay, "First delay before a pod's failed create, update, delete or status write is tried again; it doubles on each failure up to --retry-max-delay. No retry is ever abandoned.")
	fs.DurationVar(&o.RetryMaxDelay, "retry-max-delay", o.RetryMaxDelay, "Cap of the retry delay: pod work resumes at most this long after the lower cluster returns from an outage. Shorter caps cost more failed requests during an outage.")
	fs.StringVar(&o.UpperClusterID, "upper-cluster-id", o.UpperClusterID, "Identifier of the upper cluster in ownership labels. Empty: the UID of its kube-system namespace.")
	fs.StringVar(&o.LowerNamespace, "lower-namespace", o.LowerNamespace, "Lower namespace of each upper namespace, a template: {namespace} once, and optionally {cluster} (the upper cluster ID) and {node} (--nodename). \"{namespace}-{cluster}\" keeps several upper clusters apart in one lower cluster; put {node} in it (\"{namespace}-{node}\") when two virtual nodes of one upper cluster can join the same lower cluster, which {cluster} alone does not keep apart.")
	fs.BoolVar(&o.LowerSAToken, "lower-service-account-token", o.LowerSAToken, "Give pods that have a service-account token above a token of the lower ServiceAccount of the same name below (created if missing). False: no token below. Upper tokens never go down.")
	fs.BoolVar(&o.ReflectSystemServices, "reflect-system-services", o.ReflectSystemServices, "Reflect default/kubernetes and the kube-system Services into the lower cluster too (a lower Service of the same name that this node did not create is never overwritten). A kube-system Service annotated tensile.dev/reflect=true is reflected either way.")
	fs.StringVar(&o.KubeAPIContentType, "kube-api-content-type", o.KubeAPIContentType, "Wire format of built-in kinds towards both API servers: application/vnd.kubernetes.protobuf (as kube components use) or application/json. Custom resources are always JSON.")
	fs.StringVar(&o.MetricsBindAddress, "metrics-bind-address", o.MetricsBindAddress, "Address of /metrics, /healthz and /readyz.")
	fs.BoolVar(&o.Profiling, "profiling", o.Profiling, "Serve Go's /debug/pprof on --metrics-bind-address.")
	fs.StringVar(&o.ListenAddress, "listen-address", o.ListenAddress, "Address of the kubelet API (logs, exec, port-forward, stats), HTTPS.")
	fs.StringVar(&o.NodeIP, "node-ip", o.NodeIP, "InternalIP the node reports: where the upper API server reaches the kubelet API.")
	fs.StringVar(&o.TLSCertFile, "tls-cert-file", o.TLSCertFile, "Serving certificate of the kubelet API. Empty: requested from the upper cluster (kubelet-serving CSR).")
	fs.StringVar(&o.TLSKeyFile, "tls-private-key-file", o.TLSKeyFile, "Private key of --tls-cert-file.")
	fs.StringVar(&o.ClientCAFile, "client-ca-file", o.ClientCAFile, "CA of client certificates accepted by the kubelet API. Empty: the upper cluster's, from kube-system/extension-apiserver-authentication.")
	fs.StringVar(&o.CertDir, "cert-dir", o.CertDir, "Directory that keeps the kubelet API's issued or self-signed certificate across restarts. Empty: memory only.")
	fs.BoolVar(&o.ApproveOwnCSR, "approve-own-csr", o.ApproveOwnCSR, "Approve the node's own kubelet-serving CSR (test beds only: it needs the right to approve kubelet-serving certificates).")
	fs.BoolVar(&o.SelfSignedCert, "self-signed-cert", o.SelfSignedCert, "Serve the kubelet API with a self-signed certificate instead of requesting one.")
	fs.BoolVar(&o.LowerMetricsKWOK, "lower-metrics-kwok", o.LowerMetricsKWOK, "Lower nodes are KWOK nodes: read resource metrics where KWOK serves them.")
	fs.BoolVar(&o.PublishSummary, "publish-summary", o.PublishSummary, "Publish the lower cluster's capacity summary (a tensile.dev ClusterSummary) for the multi-scheduler; needs its CRD in the upper cluster.")
	fs.BoolVar(&o.LeaderElect, "leader-elect", o.LeaderElect, "Run with leader election, so that of several replicas exactly one acts.")
	fs.StringVar(&o.LeaderElectNamespace, "leader-elect-resource-namespace", o.LeaderElectNamespace, "Namespace of the leader-election Lease (named virtual-node-<nodename>) in the upper cluster.")
	fs.DurationVar(&o.LeaseDuration, "leader-elect-lease-duration", o.LeaseDuration, "Leader-election lease duration.")
	fs.DurationVar(&o.RenewDeadline, "leader-elect-renew-deadline", o.RenewDeadline, "Leader-election renew deadline.")
	fs.DurationVar(&o.RetryPeriod, "leader-elect-retry-period", o.RetryPeriod, "Leader-election retry period.")
}

// Validate checks the flags and returns every problem at once.
func (o *Options) Validate() error {
	var errs []error
	if o.NodeName == "" {
		errs = append(errs, errors.New("--nodename is required"))
	} else if msgs := validation.IsDNS1123Subdomain(o.NodeName); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("--nodename %q: %s", o.NodeName, strings.Join(msgs, "; ")))
	}
	if o.ClientKubeconfig == "" {
		errs = append(errs, errors.New("--client-kubeconfig (the lower cluster) is required"))
	}
	for flag, path := range map[string]string{"--kubeconfig": o.Kubeconfig, "--client-kubeconfig": o.ClientKubeconfig} {
		if path == "" {
			continue
		}
		if _, err := os.Stat(path); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", flag, err))
		}
	}
	if o.UpperQPS <= 0 || o.LowerQPS <= 0 || o.UpperBurst <= 0 || o.LowerBurst <= 0 {
		errs = append(errs, errors.New("QPS and burst flags must be positive"))
	}
	if o.KubeAPIContentType != runtime.ContentTypeProtobuf && o.KubeAPIContentType != runtime.ContentTypeJSON {
		errs = append(errs, fmt.Errorf("--kube-api-content-type %q: want %s or %s", o.KubeAPIContentType, runtime.ContentTypeProtobuf, runtime.ContentTypeJSON))
	}
	if o.Workers <= 0 {
		errs = append(errs, errors.New("--workers must be positive"))
	}
	if o.RetryBaseDelay <= 0 || o.RetryMaxDelay < o.RetryBaseDelay {
		errs = append(errs, fmt.Errorf("--retry-base-delay (%v) must be positive and at most --retry-max-delay (%v)", o.RetryBaseDelay, o.RetryMaxDelay))
	}
	if _, err := o.Taints(); err != nil {
		errs = append(errs, err)
	}
	for k, v := range o.NodeLabels {
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("--node-labels key %q: %s", k, strings.Join(msgs, "; ")))
		}
		if msgs := validation.IsValidLabelValue(v); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("--node-labels value %q: %s", v, strings.Join(msgs, "; ")))
		}
	}
	for flag, addr := range map[string]string{"--metrics-bind-address": o.MetricsBindAddress, "--listen-address": o.ListenAddress} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", flag, addr, err))
		}
	}
	if net.ParseIP(o.NodeIP) == nil {
		errs = append(errs, fmt.Errorf("--node-ip %q is not an IP address", o.NodeIP))
	}
	if (o.TLSCertFile == "") != (o.TLSKeyFile == "") {
		errs = append(errs, errors.New("--tls-cert-file and --tls-private-key-file go together"))
	}
	if o.UpperClusterID != "" {
		if msgs := validation.IsValidLabelValue(o.UpperClusterID); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("--upper-cluster-id %q: %s", o.UpperClusterID, strings.Join(msgs, "; ")))
		}
	}
	// The cluster ID may be known only once connected: a kube-system UID stands in.
	id := o.UpperClusterID
	if id == "" {
		id = "00000000-0000-0000-0000-000000000000"
	}
	if _, err := translate.ParseNamespaceMap(o.LowerNamespace, translate.Owner{VirtualNode: o.NodeName, UpperCluster: id}); err != nil {
		errs = append(errs, fmt.Errorf("--lower-namespace: %w", err))
	}
	return errors.Join(errs...)
}

// Taints returns the node's taints: the provider taint (unless disabled) and the extra ones.
func (o *Options) Taints() ([]corev1.Taint, error) {
	var taints []corev1.Taint
	if !o.DisableProviderTaint {
		taints = append(taints, corev1.Taint{Key: vnodeident.TaintProvider, Value: o.ProviderName, Effect: corev1.TaintEffectNoSchedule})
	}
	for _, s := range o.NodeTaints {
		t, err := parseTaint(s)
		if err != nil {
			return nil, err
		}
		taints = append(taints, t)
	}
	return taints, nil
}

func parseTaint(s string) (corev1.Taint, error) {
	kv, effect, ok := strings.Cut(s, ":")
	if !ok {
		return corev1.Taint{}, fmt.Errorf("--register-with-taints %q: want key=value:Effect", s)
	}
	key, value, _ := strings.Cut(kv, "=")
	t := corev1.Taint{Key: key, Value: value, Effect: corev1.TaintEffect(effect)}
	switch t.Effect {
	case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
	default:
		return corev1.Taint{}, fmt.Errorf("--register-with-taints %q: effect must be NoSchedule, PreferNoSchedule or NoExecute", s)
	}
	if msgs := validation.IsQualifiedName(key); len(msgs) > 0 {
		return corev1.Taint{}, fmt.Errorf("--register-with-taints %q: key: %s", s, strings.Join(msgs, "; "))
	}
	return t, nil
}
