// Package eventually is the one way unit tests wait for what other goroutines (an
// informer, a worker, a server) make true: a bounded poll that fails the test with
// what it waited for.
package eventually

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// Interval is how often a condition is checked.
const Interval = 10 * time.Millisecond

// True fails t unless cond holds within timeout.
func True(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	Check(t, timeout, what, func() (bool, error) { return cond(), nil })
}

// Check fails t unless cond returns true within timeout; an error from cond ends the
// wait at once and is reported.
func Check(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), Interval, timeout, true,
		func(context.Context) (bool, error) { return cond() })
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}
