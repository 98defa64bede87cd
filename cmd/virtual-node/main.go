// Command virtual-node joins a lower Kubernetes cluster to an upper one as one virtual
// node: virtual-node --nodename vk-node --kubeconfig <upper> --client-kubeconfig <lower>.
package main

import (
	"os"

	"k8s.io/component-base/cli"

	"github.com/tensile-kube/tensile/pkg/virtualnode"
)

func main() {
	os.Exit(cli.Run(virtualnode.NewCommand()))
}
