package provider

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

var (
	podOps = metrics.NewHistogramVec(&metrics.HistogramOpts{
		Namespace: "tensile", Subsystem: "virtual_node", Name: "pod_operation_duration_seconds",
		Help:    "Time to create, update or delete one pod (and its dependencies) in the lower cluster.",
		Buckets: metrics.ExponentialBuckets(0.001, 2, 15),
	}, []string{"operation", "result"})
	lowerErrors = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace: "tensile", Subsystem: "virtual_node", Name: "lower_api_errors_total",
		Help: "Errors returned by the lower cluster's API server, by operation and reason.",
	}, []string{"operation", "reason"})
	statusLag = metrics.NewHistogram(&metrics.HistogramOpts{
		Namespace: "tensile", Subsystem: "virtual_node", Name: "status_sync_lag_seconds",
		Help:    "Time from a lower pod's last condition change to its reflection upstairs.",
		Buckets: metrics.ExponentialBuckets(0.01, 2, 14),
	})
	statusRepairs = metrics.NewCounter(&metrics.CounterOpts{
		Namespace: "tensile", Subsystem: "virtual_node", Name: "status_repairs_total",
		Help: "Upper pod statuses written again because the upper pod cache did not show the previous write within 5 s and the API server held another status.",
	})
	statusConfirmations = metrics.NewCounter(&metrics.CounterOpts{
		Namespace: "tensile", Subsystem: "virtual_node", Name: "status_confirmations_total",
		Help: "Upper pod statuses read back from the API server because the upper pod cache did not show the write within 5 s, and found as written (no write).",
	})
	statusWrites = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace: "tensile", Subsystem: "virtual_node", Name: "pod_status_writes_total",
		Help: "Upper pod status writes, by the step of the lower pod they reflect (unscheduled, unschedulable, placed, started, running, terminal; no-lower-pod for a status of its own) and whether the write repaired a status the upper pod cache did not show.",
	}, []string{"step", "repair"})
	// PodsManaged is the number of lower pods this virtual node owns; the command sets
	// it from the provider's cache.
	PodsManaged = metrics.NewGauge(&metrics.GaugeOpts{
		Namespace: "tensile", Subsystem: "virtual_node", Name: "pods_managed",
		Help: "Lower pods created and owned by this virtual node.",
	})
)

func init() {
	legacyregistry.MustRegister(podOps, lowerErrors, statusLag, statusRepairs, statusConfirmations, statusWrites, PodsManaged)
}

func observeOp(op string, err error, start time.Time) {
	result := "success"
	if err != nil {
		result = "error"
		lowerErrors.WithLabelValues(op, string(apierrors.ReasonForError(err))).Inc()
	}
	podOps.WithLabelValues(op, result).Observe(time.Since(start).Seconds())
}

// observeStatusLag records how long after the lower pod's newest condition change its
// status is being reflected.
func observeStatusLag(lower *corev1.Pod) {
	var newest time.Time
	for _, c := range lower.Status.Conditions {
		if c.LastTransitionTime.After(newest) {
			newest = c.LastTransitionTime.Time
		}
	}
	if !newest.IsZero() {
		statusLag.Observe(time.Since(newest).Seconds())
	}
}
