package virtualnode

import (
	"context"
	"errors"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// TestRetryForever: no queue ever abandons a pod, however long the lower cluster is
// down, and the delay grows to a cap (one minute; 12.8s for resourceVersion conflicts).
func TestRetryForever(t *testing.T) {
	retry := retryForever("test")
	conflict := apierrors.NewConflict(schema.GroupResource{Resource: "pods"}, "web", errors.New("stale"))
	for _, tc := range []struct {
		name  string
		err   error
		limit time.Duration
	}{
		{"unreachable lower cluster", errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), time.Minute},
		{"lower API server overloaded", apierrors.NewTooManyRequests("slow down", 1), time.Minute},
		{"resourceVersion conflict", conflict, 12800 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var prev time.Duration
			for tries := 0; tries < 1000; tries++ {
				d, err := retry(context.Background(), "ns/web", tries, time.Now().Add(-time.Hour), tc.err)
				if err != nil || d == nil {
					t.Fatalf("try %d: delay %v, err %v; want a retry", tries, d, err)
				}
				if *d < prev || *d > tc.limit || *d <= 0 {
					t.Fatalf("try %d: delay %v after %v; want growing up to %v", tries, *d, prev, tc.limit)
				}
				prev = *d
			}
			if prev != tc.limit {
				t.Errorf("delay after 1000 tries = %v, want the cap %v", prev, tc.limit)
			}
		})
	}
}
