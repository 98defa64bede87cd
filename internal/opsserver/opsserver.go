// Package opsserver is the operational endpoints every long-running command of this
// project serves: Prometheus /metrics from component-base's legacy registry (where
// every metric of the project and its libraries is registered) and /healthz and
// /readyz with the API server's healthz handlers, as kube components serve them.
package opsserver

import (
	"errors"
	"net/http"
	"net/http/pprof"

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

// InstallProfiling adds Go's /debug/pprof handlers to mux (the --profiling flag of kube
// components): CPU and heap profiles of a running component, for benchmarks and support.
func InstallProfiling(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}
