// Command virtual-node joins a lower Kubernetes cluster to an upper one as one virtual
// node: virtual-node --nodename vk-node --kubeconfig <upper> --client-kubeconfig <lower>.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	// Every work queue (virtual-kubelet's, the status queue, each reflector's) reports
	// depth, adds, latency and retries as workqueue_* metrics, by queue name.
	_ "k8s.io/component-base/metrics/prometheus/workqueue"

	_ "github.com/tensile-kube/tensile/internal/standalone" // CA roots and tzdata for the empty image
	"github.com/tensile-kube/tensile/internal/virtualnode"
)

func main() {
	os.Exit(cli.Run(virtualnode.NewCommand()))
}
