// Package opsserver is the operational endpoints every long-running command of this
// project serves: Prometheus /metrics from component-base's legacy registry (where
// every metric of the project and its libraries is registered) and /healthz and
// /readyz with the API server's healthz handlers, as kube components serve them.
package opsserver

import (
	"errors"
	"net/http"

	"k8s.io/apiserver/pkg/server/healthz"
	"k8s.io/component-base/metrics/legacyregistry"
)

// Mux returns a mux with /metrics, /healthz (the process answers) and /readyz (ready
// reports true).
func Mux(ready func() bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", legacyregistry.Handler())
	healthz.InstallHandler(mux)
	healthz.InstallReadyzHandler(mux, healthz.NamedCheck("ready", func(*http.Request) error {
		if !ready() {
			return errors.New("not ready")
		}
		return nil
	}))
	return mux
}
