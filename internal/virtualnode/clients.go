package virtualnode

import (
	"context"
	"fmt"
	"os"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// restConfig loads a kubeconfig with a clear error naming the flag. An empty path means
// the in-cluster config, then the default loading rules ($KUBECONFIG).
func restConfig(flag, path string, qps float32, burst int) (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	switch {
	case path != "":
		if _, statErr := os.Stat(path); statErr != nil {
			return nil, fmt.Errorf("%s %s: %w", flag, path, statErr)
		}
		cfg, err = clientcmd.BuildConfigFromFlags("", path)
	default:
		cfg, err = rest.InClusterConfig()
		if err != nil {
			cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
				clientcmd.NewDefaultClientConfigLoadingRules(), &clientcmd.ConfigOverrides{}).ClientConfig()
		}
	}
	if err != nil && path == "" {
		return nil, fmt.Errorf("%s not given, and neither an in-cluster config nor $KUBECONFIG works: %w", flag, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: not a usable kubeconfig: %w", flag, path, err)
	}
	cfg.QPS, cfg.Burst = qps, burst
	cfg.UserAgent = "virtual-node"
	return cfg, nil
}

// withContentType returns a copy of cfg for the built-in clientset that speaks
// contentType. Protobuf is what kube components use: decoding a pod costs a fraction of
// its JSON, in this process and in the API servers that encode every watch event for it.
// The clientset still accepts JSON, which the API server sends for kinds without
// protobuf. Custom resources have no protobuf form: their clients keep cfg.
func withContentType(cfg *rest.Config, contentType string) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.ContentType = contentType
	if contentType == runtime.ContentTypeProtobuf {
		cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	}
	return cfg
}

// reachable fails fast when a cluster cannot be reached or refuses our credentials.
func reachable(ctx context.Context, which string, cfg *rest.Config, c kubernetes.Interface) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c.Discovery().RESTClient().Get().AbsPath("/version").DoRaw(ctx); err != nil {
		return fmt.Errorf("%s cluster at %s is unreachable: %w", which, cfg.Host, err)
	}
	// Readable /version proves little: check that the credentials are accepted too.
	if _, err := c.CoreV1().Namespaces().Get(ctx, metav1.NamespaceSystem, metav1.GetOptions{}); err != nil {
		return fmt.Errorf("%s cluster at %s: %w", which, cfg.Host, err)
	}
	return nil
}

// upperClusterID is a stable identifier of the upper cluster: its kube-system UID.
func upperClusterID(ctx context.Context, c kubernetes.Interface) (string, error) {
	ns, err := c.CoreV1().Namespaces().Get(ctx, metav1.NamespaceSystem, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("reading the upper cluster's identity (kube-system namespace UID): %w", err)
	}
	return string(ns.UID), nil
}
