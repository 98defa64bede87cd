package virtualnode

import (
	"context"
	"net"
	"net/http"

	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	"github.com/virtual-kubelet/virtual-kubelet/node/nodeutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	corev1listers "k8s.io/client-go/listers/core/v1"

	"github.com/tensile-kube/tensile/internal/kubeletapi"
	"github.com/tensile-kube/tensile/internal/provider"
	"github.com/tensile-kube/tensile/internal/translate"
)

// kubeletAPI serves the node's kubelet API (logs, exec, attach, port-forward, stats)
// through the lower cluster's API server, over HTTPS, to authenticated and authorized
// callers only.
type kubeletAPI struct {
	*kubeletapi.Proxy
	serving *kubeletapi.Serving
	auth    *kubeletapi.Auth
	handler *kubeletapi.Handler
	routes  *http.ServeMux
	addr    string
}

// newKubeletAPI builds the proxy, the serving certificate source and the auth filter.
// prov returns the pod provider once it exists: the proxy lists the pods it owns
// through it.
func newKubeletAPI(_ context.Context, o *Options, c *clusters, prov func() *provider.Provider) (*kubeletAPI, error) {
	cfg := kubeletapi.Config{
		NodeName:    o.NodeName,
		LowerConfig: c.lowerCfg,
		LowerClient: c.lower,
		LowerName: func(_ context.Context, upper types.NamespacedName) (types.NamespacedName, error) {
			p := prov()
			if p == nil {
				return types.NamespacedName{}, errdefs.NotFoundf("pod %s: the virtual node is starting", upper)
			}
			return p.LowerName(upper)
		},
		OwnedPods: func(ctx context.Context) ([]kubeletapi.OwnedPod, error) {
			p := prov()
			if p == nil {
				return nil, nil
			}
			pods, err := p.OwnedLowerPods()
			if err != nil {
				return nil, err
			}
			out := make([]kubeletapi.OwnedPod, 0, len(pods))
			for _, l := range pods {
				if up, ok := p.UpperName(l); ok {
					out = append(out, kubeletapi.OwnedPod{
						Upper: kubeletapi.PodIdentity{Namespace: up.Namespace, Name: up.Name, UID: translate.UpperUID(l)},
						Lower: l,
					})
				}
			}
			return out, nil
		},
	}
	if o.LowerMetricsKWOK {
		cfg.LowerMetricsPath = kubeletapi.KWOKMetricsPath
	}
	proxy, err := kubeletapi.NewProxy(cfg)
	if err != nil {
		return nil, err
	}
	serving, err := kubeletapi.NewServing(kubeletapi.ServingConfig{
		NodeName: o.NodeName, Client: c.upper,
		CertFile: o.TLSCertFile, KeyFile: o.TLSKeyFile, SelfSigned: o.SelfSignedCert,
		CertDir: o.CertDir, ApproveOwnCSR: o.ApproveOwnCSR,
		Hostnames: []string{o.NodeName}, IPs: []net.IP{net.ParseIP(o.NodeIP)},
	})
	if err != nil {
		return nil, err
	}
	auth, err := kubeletapi.NewAuth(kubeletapi.AuthConfig{NodeName: o.NodeName, Client: c.upper, ClientCAFile: o.ClientCAFile})
	if err != nil {
		return nil, err
	}
	routes := http.NewServeMux()
	handler, err := kubeletapi.NewHandler(kubeletapi.HandlerConfig{Routes: routes, Proxy: proxy, Auth: auth})
	if err != nil {
		return nil, err
	}
	return &kubeletAPI{Proxy: proxy, serving: serving, auth: auth, handler: handler, routes: routes, addr: o.ListenAddress}, nil
}

// attachRoutes serves virtual-kubelet's pod routes (those of
// nodeutil.AttachProviderRoutes) from p, the upper pods bound to the node from pods,
// with the handler's stream timeouts.
func (k *kubeletAPI) attachRoutes(p nodeutil.Provider, pods corev1listers.PodLister) {
	idle, creation := k.handler.StreamTimeouts()
	k.routes.Handle("/", api.PodHandler(api.PodHandlerConfig{
		RunInContainer:    p.RunInContainer,
		AttachToContainer: p.AttachToContainer,
		GetContainerLogs:  p.GetContainerLogs,
		GetPods:           p.GetPods,
		GetPodsFromKubernetes: func(context.Context) ([]*corev1.Pod, error) {
			return pods.List(labels.Everything())
		},
		GetStatsSummary:       p.GetStatsSummary,
		GetMetricsResource:    p.GetMetricsResource,
		StreamIdleTimeout:     idle,
		StreamCreationTimeout: creation,
		PortForward:           p.PortForward,
	}, true))
}

// serve serves the kubelet API over HTTPS until stop is called.
func (k *kubeletAPI) serve(context.Context) (stop func(), err error) {
	return kubeletapi.Serve(k.addr, k.handler, k.serving.TLSConfig())
}

// start obtains (and keeps renewing) the serving certificate, loads the client CA and
// keeps the stats and metrics caches fresh while they are scraped.
func (k *kubeletAPI) start(ctx context.Context) error {
	k.serving.Start(ctx)
	go k.Proxy.Run(ctx)
	return k.auth.Start(ctx)
}
