// Command webhook is the mutating admission webhook that prepares pods labelled
// virtual-pod=true for virtual nodes and keeps DaemonSets off them; see
// docs/webhook.md.
package main

import (
	"os"

	"k8s.io/component-base/cli"

	_ "github.com/tensile-kube/tensile/internal/standalone" // CA roots and tzdata for the empty image
	"github.com/tensile-kube/tensile/internal/webhook/app"
)

func main() {
	os.Exit(cli.Run(app.NewCommand()))
}
