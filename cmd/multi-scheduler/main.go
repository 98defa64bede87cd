// Command multi-scheduler is kube-scheduler with the LowerClusterFit plugin compiled
// in: run it as a second scheduler in the upper cluster so that pods sent to virtual
// nodes land only where some lower node can take them. `--version` prints the
// Kubernetes release it is built from (stamped by the Makefile).
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register" // JSON log format
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"

	_ "github.com/tensile-kube/tensile/internal/standalone" // CA roots and tzdata for the empty image
	"github.com/tensile-kube/tensile/pkg/plugins/lowerfit"
)

func main() {
	command := app.NewSchedulerCommand(
		app.WithPlugin(lowerfit.Name, lowerfit.New),
	)
	command.Use = "multi-scheduler"
	os.Exit(cli.Run(command))
}
