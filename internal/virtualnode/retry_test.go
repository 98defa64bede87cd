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
// down; the delay starts at the base and grows to the cap (--retry-base-delay,
// --retry-max-delay; 12.8s at most for resourceVersion conflicts).
func TestRetryForever(t *testing.T) {
	conflict := apierrors.NewConflict(schema.GroupResource{Resource: "pods"}, "web", errors.New("stale"))
	unreachable := errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
	for _, tc := range []struct {
		name        string
		err         error
		base, limit time.Duration
		want        time.Duration // the delay reached
	}{
		{"unreachable lower cluster", unreachable, 100 * time.Millisecond, time.Minute, time.Minute},
		{"lower API server overloaded", apierrors.NewTooManyRequests("slow down", 1), 100 * time.Millisecond, time.Minute, time.Minute},
		{"resourceVersion conflict", conflict, 100 * time.Millisecond, time.Minute, conflictRetryCap},
		{"shortened cap (simulated long outage)", unreachable, 10 * time.Millisecond, time.Second, time.Second},
		{"conflict under a shorter cap", conflict, 10 * time.Millisecond, time.Second, time.Second},
		{"cap above every shift", unreachable, time.Hour, 1000 * time.Hour, 1000 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			retry := retryForever("test", tc.base, tc.limit)
			var prev time.Duration
			for tries := 0; tries < 1000; tries++ {
				d, err := retry(context.Background(), "ns/web", tries, time.Now().Add(-time.Hour), tc.err)
				if err != nil || d == nil {
					t.Fatalf("try %d: delay %v, err %v; want a retry", tries, d, err)
				}
				if tries == 0 && *d != tc.base {
					t.Errorf("first delay %v, want the base %v", *d, tc.base)
				}
				if *d < prev || *d > tc.want || *d <= 0 {
					t.Fatalf("try %d: delay %v after %v; want growing up to %v", tries, *d, prev, tc.want)
				}
				prev = *d
			}
			if prev != tc.want {
				t.Errorf("delay after 1000 tries = %v, want the cap %v", prev, tc.want)
			}
		})
	}
}
