package reflector

import (
	"time"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

var (
	operations = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace: "tensile", Subsystem: "reflector", Name: "operations_total",
		Help: "Reflection operations on lower-cluster copies, by kind, operation and result.",
	}, []string{"kind", "operation", "result"})
	latency = metrics.NewHistogramVec(&metrics.HistogramOpts{
		Namespace: "tensile", Subsystem: "reflector", Name: "operation_duration_seconds",
		Help:    "Time to reflect one object, by kind and operation.",
		Buckets: metrics.ExponentialBuckets(0.001, 2, 14),
	}, []string{"kind", "operation"})
	reflected = metrics.NewGaugeVec(&metrics.GaugeOpts{
		Namespace: "tensile", Subsystem: "reflector", Name: "objects",
		Help: "Lower-cluster copies this virtual node owns, by kind.",
	}, []string{"kind"})
)

func init() {
	legacyregistry.MustRegister(operations, latency, reflected)
}

func observe(kind, op string, err error, start time.Time) {
	result := "success"
	if err != nil {
		result = "error"
	}
	operations.WithLabelValues(kind, op, result).Inc()
	if op != "noop" {
		latency.WithLabelValues(kind, op).Observe(time.Since(start).Seconds())
	}
}
