package kubeletapi

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
)

// LowerNameFunc maps the namespace and name of a pod in the upper cluster to those of the
// pod that runs for it in the lower cluster. It returns an error for which
// errdefs.IsNotFound holds when the pod is not one of this virtual node's.
type LowerNameFunc func(ctx context.Context, upper types.NamespacedName) (types.NamespacedName, error)

// SameName is the identity LowerNameFunc: the lower pod has the upper pod's namespace
// and name.
func SameName(_ context.Context, upper types.NamespacedName) (types.NamespacedName, error) {
	return upper, nil
}

// OwnedPod ties a pod of the lower cluster to the upper pod it runs for.
type OwnedPod struct {
	// Upper identifies the pod in the upper cluster; stats and metrics report it by
	// these names.
	Upper PodIdentity
	// Lower is the pod in the lower cluster: its namespace, name, UID and node name
	// locate its stats.
	Lower *corev1.Pod
}

// PodIdentity names one pod in one cluster.
type PodIdentity struct {
	// Namespace is the pod's namespace.
	Namespace string
	// Name is the pod's name.
	Name string
	// UID is the pod's UID.
	UID types.UID
}

// OwnedPodsFunc lists the lower pods this virtual node owns, paired with their upper pods.
type OwnedPodsFunc func(ctx context.Context) ([]OwnedPod, error)

// Config configures a Proxy.
type Config struct {
	// NodeName is the virtual node's name in the upper cluster; stats report it. Required.
	NodeName string
	// LowerConfig is the rest.Config of the lower cluster's API server; streams (exec,
	// attach, port-forward) are dialed with it. Required.
	LowerConfig *rest.Config
	// LowerClient is a client of the lower cluster. Defaults to one built from LowerConfig.
	LowerClient kubernetes.Interface
	// LowerName maps upper pod names to lower ones. Defaults to SameName.
	LowerName LowerNameFunc
	// OwnedPods lists the lower pods whose stats and metrics this node reports. Required.
	OwnedPods OwnedPodsFunc
	// LowerNodeSelector selects the lower nodes whose usage is summed into the virtual
	// node's own stats. Defaults to every node.
	LowerNodeSelector labels.Selector
	// LowerMetricsPath returns the path, on a lower node's kubelet, of its resource
	// metrics. Defaults to DefaultMetricsPath; KWOKMetricsPath suits KWOK's fake nodes.
	LowerMetricsPath func(lowerNode string) string
	// StatsTimeout bounds one scrape of one lower node. Defaults to 10s.
	StatsTimeout time.Duration
	// StatsConcurrency bounds how many lower node requests are in flight at once, for
	// stats and metrics together. Defaults to 8.
	StatsConcurrency int
	// StatsRefreshInterval is how often the stats and metrics caches are refreshed in
	// the background (by Run) while they are read. Defaults to 10s.
	StatsRefreshInterval time.Duration
	// StatsMaxAge bounds the age of served stats and metrics: older ones are never
	// served, a read waits for a refresh instead. It must exceed
	// StatsRefreshInterval. Defaults to three times StatsRefreshInterval.
	StatsMaxAge time.Duration
	// Clock is the time source of the caches. Defaults to the real clock.
	Clock clock.WithTicker
}

// DefaultMetricsPath is where a kubelet serves its resource metrics.
func DefaultMetricsPath(string) string { return "/metrics/resource" }

// KWOKMetricsPath is where KWOK's controller, which stands in for the kubelet of its fake
// nodes, serves a node's resource metrics when a Metric resource configures them.
func KWOKMetricsPath(node string) string { return "/metrics/nodes/" + node + "/metrics/resource" }

// Proxy answers the kubelet API requests of a virtual node through the lower cluster's
// API server. Its methods have the signatures of virtual-kubelet's node/api handler
// function types and of nodeutil.Provider's streaming and stats methods.
type Proxy struct {
	cfg   Config
	lower kubernetes.Interface
	// rest builds the subresource URLs of streams and node proxy requests. It always
	// comes from LowerConfig, so that it dials the same server the streams do even when
	// LowerClient is a fake.
	rest rest.Interface

	// statsSlots bounds the lower node requests of stats and metrics refreshes.
	statsSlots chan struct{}
	// summaries and resourceMetrics cache what the lower nodes serve; scrapes read
	// them instead of fanning out to every lower node.
	summaries       *scrapeCache[summaryScrape]
	resourceMetrics *scrapeCache[metricsScrape]

	// noStatsOnce and noMetricsOnce say once, at info level, that lower nodes serve no
	// stats (the KWOK test bed's fake nodes do not), instead of once per scrape.
	noStatsOnce   sync.Once
	noMetricsOnce sync.Once
}

// The methods drop into api.PodHandlerConfig and nodeutil.Provider as they are.
var (
	_ api.ContainerLogsHandlerFunc      = (*Proxy)(nil).GetContainerLogs
	_ api.ContainerExecHandlerFunc      = (*Proxy)(nil).RunInContainer
	_ api.ContainerAttachHandlerFunc    = (*Proxy)(nil).AttachToContainer
	_ api.PortForwardHandlerFunc        = (*Proxy)(nil).PortForward
	_ api.PodStatsSummaryHandlerFunc    = (*Proxy)(nil).GetStatsSummary
	_ api.PodMetricsResourceHandlerFunc = (*Proxy)(nil).GetMetricsResource
)

// NewProxy validates cfg, defaults what is optional and returns a Proxy.
func NewProxy(cfg Config) (*Proxy, error) {
	if cfg.NodeName == "" {
		return nil, errors.New("kubeletapi: NodeName is required")
	}
	if cfg.LowerConfig == nil {
		return nil, errors.New("kubeletapi: LowerConfig is required")
	}
	if cfg.OwnedPods == nil {
		return nil, errors.New("kubeletapi: OwnedPods is required")
	}
	if cfg.LowerClient == nil {
		c, err := kubernetes.NewForConfig(cfg.LowerConfig)
		if err != nil {
			return nil, fmt.Errorf("kubeletapi: lower client: %w", err)
		}
		cfg.LowerClient = c
	}
	if cfg.LowerName == nil {
		cfg.LowerName = SameName
	}
	if cfg.LowerNodeSelector == nil {
		cfg.LowerNodeSelector = labels.Everything()
	}
	if cfg.LowerMetricsPath == nil {
		cfg.LowerMetricsPath = DefaultMetricsPath
	}
	if cfg.StatsTimeout <= 0 {
		cfg.StatsTimeout = 10 * time.Second
	}
	if cfg.StatsConcurrency <= 0 {
		cfg.StatsConcurrency = 8
	}
	if cfg.StatsRefreshInterval <= 0 {
		cfg.StatsRefreshInterval = 10 * time.Second
	}
	if cfg.StatsMaxAge <= 0 {
		cfg.StatsMaxAge = 3 * cfg.StatsRefreshInterval
	}
	if cfg.StatsMaxAge <= cfg.StatsRefreshInterval {
		return nil, fmt.Errorf("kubeletapi: StatsMaxAge (%s) must exceed StatsRefreshInterval (%s)", cfg.StatsMaxAge, cfg.StatsRefreshInterval)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	core, err := corev1client.NewForConfig(cfg.LowerConfig)
	if err != nil {
		return nil, fmt.Errorf("kubeletapi: lower REST client: %w", err)
	}
	p := &Proxy{cfg: cfg, lower: cfg.LowerClient, rest: core.RESTClient(), statsSlots: make(chan struct{}, cfg.StatsConcurrency)}
	p.summaries = newScrapeCache(p.cacheConfig(), p.collectSummaries)
	p.resourceMetrics = newScrapeCache(p.cacheConfig(), p.collectMetrics)
	return p, nil
}

// lowerName maps an upper pod to its lower pod, making sure a refusal reads as not found.
func (p *Proxy) lowerName(ctx context.Context, namespace, pod string) (types.NamespacedName, error) {
	upper := types.NamespacedName{Namespace: namespace, Name: pod}
	lower, err := p.cfg.LowerName(ctx, upper)
	if err != nil {
		if isNotFound(err) {
			return types.NamespacedName{}, errdefs.AsNotFound(fmt.Errorf("pod %s: %w", upper, err))
		}
		return types.NamespacedName{}, fmt.Errorf("mapping pod %s to the lower cluster: %w", upper, err)
	}
	return lower, nil
}

// CheckPod verifies, before a request is served, that the upper pod maps to a lower pod
// that exists and, when container is not empty, has that container. It lets Handler
// answer 404 or 503 the way a kubelet does, before virtual-kubelet upgrades a stream
// connection and can no longer choose the status.
func (p *Proxy) CheckPod(ctx context.Context, namespace, pod, container string) error {
	lower, err := p.lowerName(ctx, namespace, pod)
	if err != nil {
		return err
	}
	obj, err := p.lower.CoreV1().Pods(lower.Namespace).Get(ctx, lower.Name, metav1.GetOptions{})
	if err != nil {
		return lowerError(err, fmt.Sprintf("pod %s/%s", namespace, pod))
	}
	if container != "" && !hasContainer(obj, container) {
		return errdefs.NotFoundf("container %q not found in pod %s/%s", container, namespace, pod)
	}
	return nil
}

// hasContainer reports whether the pod has a regular, init or ephemeral container of
// that name: a kubelet serves logs and exec for all three.
func hasContainer(pod *corev1.Pod, name string) bool {
	for _, c := range pod.Spec.Containers {
		if c.Name == name {
			return true
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return true
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}
