package webhook

import (
	"testing"
	"time"

	"k8s.io/component-base/metrics/legacyregistry"
)

// TestMetricsServed: the webhook's metrics reach the registry /metrics serves without
// any call from the command.
func TestMetricsServed(t *testing.T) {
	observe(ResultMutated, time.Millisecond)
	exclusionsInjected.Inc()
	families, err := legacyregistry.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{
		"tensile_webhook_admission_reviews_total":           false,
		"tensile_webhook_admission_review_duration_seconds": false,
		"tensile_webhook_exclusions_injected_total":         false,
	}
	for _, f := range families {
		if _, ok := want[f.GetName()]; ok {
			want[f.GetName()] = true
		}
	}
	for name, seen := range want {
		if !seen {
			t.Errorf("%s is not in the legacy registry", name)
		}
	}
}
