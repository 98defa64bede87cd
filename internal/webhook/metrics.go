package webhook

import (
	"time"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

// The webhook's metrics. Like every package's in this module they are component-base
// metrics, added to its legacy registry (which opsserver serves at /metrics) in the
// package's init, so no command can forget to register them.
var (
	reviews = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace: "tensile", Subsystem: "webhook", Name: "admission_reviews_total",
		Help: "Admission reviews answered, by result (mutated, unchanged, passthrough, denied).",
	}, []string{"result"})
	reviewDuration = metrics.NewHistogram(&metrics.HistogramOpts{
		Namespace: "tensile", Subsystem: "webhook", Name: "admission_review_duration_seconds",
		Help:    "Time to answer an admission review.",
		Buckets: metrics.ExponentialBuckets(0.0005, 2, 12),
	})
	exclusionsInjected = metrics.NewCounter(&metrics.CounterOpts{
		Namespace: "tensile", Subsystem: "webhook", Name: "exclusions_injected_total",
		Help: "Pods that received placement exclusions for their controller.",
	})
)

func init() {
	legacyregistry.MustRegister(reviews, reviewDuration, exclusionsInjected)
}

func observe(r Result, d time.Duration) {
	reviews.WithLabelValues(string(r)).Inc()
	reviewDuration.Observe(d.Seconds())
}
