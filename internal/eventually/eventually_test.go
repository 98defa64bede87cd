package eventually

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// recorder is a testing.TB that records a Fatalf instead of ending the test.
type recorder struct {
	testing.TB
	failed atomic.Bool
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(string, ...any) {
	r.failed.Store(true)
}

func TestTrue(t *testing.T) {
	var n atomic.Int32
	r := &recorder{TB: t}
	True(r, time.Second, "the third check", func() bool { return n.Add(1) == 3 })
	if r.failed.Load() || n.Load() != 3 {
		t.Errorf("failed=%v after %d checks, want a pass on the third", r.failed.Load(), n.Load())
	}
	r = &recorder{TB: t}
	True(r, 50*time.Millisecond, "never", func() bool { return false })
	if !r.failed.Load() {
		t.Error("a condition that never holds passed")
	}
}

func TestCheckStopsOnError(t *testing.T) {
	var n atomic.Int32
	r := &recorder{TB: t}
	Check(r, time.Second, "an error", func() (bool, error) { n.Add(1); return false, errors.New("boom") })
	if !r.failed.Load() || n.Load() != 1 {
		t.Errorf("failed=%v after %d checks, want a failure after one", r.failed.Load(), n.Load())
	}
}
