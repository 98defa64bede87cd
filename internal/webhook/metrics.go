package webhook

import (
	"sync"
	"time"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

var (
	reviews = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace: "tensile", Subsystem: "webhook", Name: "admission_reviews_total",
		Help:           "Admission reviews answered, by result (mutated, unchanged, passthrough, denied).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"result"})
	reviewDuration = metrics.NewHistogram(&metrics.HistogramOpts{
		Namespace: "tensile", Subsystem: "webhook", Name: "admission_review_duration_seconds",
		Help:           "Time to answer an admission review.",
		Buckets:        metrics.ExponentialBuckets(0.0005, 2, 12),
		StabilityLevel: metrics.ALPHA,
	})
	exclusionsInjected = metrics.NewCounter(&metrics.CounterOpts{
		Namespace: "tensile", Subsystem: "webhook", Name: "exclusions_injected_total",
		Help:           "Pods that received placement exclusions for their controller.",
		StabilityLevel: metrics.ALPHA,
	})
	registerOnce sync.Once
)

// RegisterMetrics adds the webhook's metrics to the legacy registry served at
// /metrics. It is safe to call more than once.
func RegisterMetrics() {
	registerOnce.Do(func() {
		legacyregistry.MustRegister(reviews, reviewDuration, exclusionsInjected)
	})
}

func observe(r Result, d time.Duration) {
	reviews.WithLabelValues(string(r)).Inc()
	reviewDuration.Observe(d.Seconds())
}
