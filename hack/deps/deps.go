// Package deps pins the libraries the commands are built on until they import them.
package deps

import (
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/virtual-kubelet/virtual-kubelet/node/nodeutil"
	_ "k8s.io/kubernetes/cmd/kube-scheduler/app"
	_ "sigs.k8s.io/descheduler/cmd/descheduler/app"
)
