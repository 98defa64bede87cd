package virtualnode

import (
	"context"

	"github.com/virtual-kubelet/virtual-kubelet/node/nodeutil"

	"github.com/tensile-kube/tensile/pkg/kubeletapi"
	"github.com/tensile-kube/tensile/pkg/provider"
	"github.com/tensile-kube/tensile/pkg/translate"
)

// kubeletAPI serves the node's kubelet API (logs, exec, attach, port-forward, stats)
// through the lower cluster's API server.
type kubeletAPI struct {
	*kubeletapi.Proxy
}

// newKubeletAPI builds the proxy. prov returns the pod provider once it exists: the
// proxy lists the pods it owns through it.
func newKubeletAPI(_ context.Context, o *Options, c *clusters, prov func() *provider.Provider) (kubeletAPI, error) {
	cfg := kubeletapi.Config{
		NodeName:    o.NodeName,
		LowerConfig: c.lowerCfg,
		LowerClient: c.lower,
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
				out = append(out, kubeletapi.OwnedPod{
					Upper: kubeletapi.PodIdentity{Namespace: l.Namespace, Name: l.Name, UID: translate.UpperUID(l)},
					Lower: l,
				})
			}
			return out, nil
		},
	}
	if o.LowerMetricsKWOK {
		cfg.LowerMetricsPath = kubeletapi.KWOKMetricsPath
	}
	proxy, err := kubeletapi.NewProxy(cfg)
	if err != nil {
		return kubeletAPI{}, err
	}
	return kubeletAPI{Proxy: proxy}, nil
}

// configure sets the node's HTTP server up. Until serving certificates and
// authentication are wired, the kubelet API is not served (virtual-kubelet starts no
// server without a TLS config).
func (k kubeletAPI) configure(cfg *nodeutil.NodeConfig) error {
	return nil
}
