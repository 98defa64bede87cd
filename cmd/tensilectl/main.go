// Command tensilectl joins a lower Kubernetes cluster to an upper one as a virtual
// node, shows the virtual nodes, and removes a join:
//
//	tensilectl join --upper-kubeconfig A --lower-kubeconfig B --name vk-x
//	tensilectl status --upper-kubeconfig A
//	tensilectl unjoin --upper-kubeconfig A --lower-kubeconfig B --name vk-x [--drain]
//
// Installed as kubectl-tensile it is the kubectl plugin `kubectl tensile`.
package main

import (
	"os"
	"path/filepath"
	"strings"

	"k8s.io/component-base/cli"

	"github.com/tensile-kube/tensile/internal/tensilectl"
)

func main() {
	name := "tensilectl"
	if strings.HasPrefix(filepath.Base(os.Args[0]), "kubectl-") {
		name = "kubectl tensile"
	}
	os.Exit(cli.Run(tensilectl.NewCommand(name)))
}
