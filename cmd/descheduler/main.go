// Command descheduler is the upstream descheduler (sigs.k8s.io/descheduler) with the
// RecreateUnschedulable plugin registered next to the upstream plugins. It takes the
// upstream flags and a normal DeschedulerPolicy (descheduler/v1alpha2); see
// docs/descheduler.md.
package main

import (
	"os"

	"k8s.io/component-base/cli"

	"github.com/tensile-kube/tensile/internal/descheduler"
	_ "github.com/tensile-kube/tensile/internal/standalone" // CA roots and tzdata for the empty image
)

func main() {
	os.Exit(cli.Run(descheduler.NewCommand()))
}
