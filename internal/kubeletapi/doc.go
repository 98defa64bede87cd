// Package kubeletapi serves the kubelet API of a virtual node that stands for a whole
// lower cluster. Every request that a kubelet would answer from its container runtime is
// answered through the lower cluster's API server instead: logs through pods/log, exec
// and attach through pods/exec and pods/attach, port-forward through pods/portforward,
// and stats and resource metrics through the lower nodes' proxy subresource. No pod
// network between the clusters is needed.
//
// The package has three parts, each usable on its own:
//
//   - Proxy implements the streaming and stats methods of virtual-kubelet's
//     nodeutil.Provider (their signatures match node/api's handler function types), so a
//     provider can embed it.
//   - Handler wraps virtual-kubelet's pod routes the way a kubelet serves them:
//     authentication and authorization of every request, kubelet-like status codes
//     (404 for an unknown pod or container, 503 when the lower cluster cannot be
//     reached) and kubelet's stream timeouts.
//   - Serving provides the HTTPS server's certificate: given files, a certificate issued
//     through a kubernetes.io/kubelet-serving CertificateSigningRequest and renewed
//     before it expires, or a self-signed one.
package kubeletapi
