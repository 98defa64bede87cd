package lowerfit

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/tensile-kube/tensile/pkg/capacity"
)

// activationBed is a plugin with one virtual node, vk-a, whose lower cluster has one
// 4 CPU node, and a way to change its summary.
type activationBed struct {
	t         *testing.T
	pl        *Plugin
	clock     *testClock
	activator *testActivator
	model     *capacity.Model
	handler   interface{ OnAdd(any, bool) }
	changes   int
}

func newActivationBed(t *testing.T) *activationBed {
	pl, clock, activator := newTestPluginActivator(t)
	clock.Set(t0.Add(5 * time.Second))
	b := &activationBed{t: t, pl: pl, clock: clock, activator: activator, model: capacity.NewModel(capacity.Options{})}
	b.model.SetNode(lowerNode("small", "4"))
	b.handler = pl.summaryHandler(klog.Background())
	b.handler.OnAdd(modelSummary(b.model, "vk-a", clock.Now()), false)
	return b
}

// change publishes a summary of different content: one more small lower node.
func (b *activationBed) change() {
	b.changes++
	b.model.SetNode(lowerNode(string(rune('a'+b.changes))+"-small", "1"))
	b.handler.OnAdd(modelSummary(b.model, "vk-a", b.clock.Now()), false)
}

// activated returns and forgets the pods activated so far.
func (b *activationBed) activated() []string { return b.activator.take() }

// key is the queue's key of pod.
func key(pod *corev1.Pod) string {
	return types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}.String()
}

// cycle runs PreFilter and Filter of one cycle on vk-a and returns its cycle state
// and Filter's answer; nothing is reserved (the cycle failed, somewhere).
func (b *activationBed) cycle(pod *corev1.Pod) (*framework.CycleState, bool) {
	b.t.Helper()
	state := b.preFilter(pod)
	return state, b.pl.Filter(context.Background(), state, pod, virtualNode("vk-a")).IsSuccess()
}

func (b *activationBed) preFilter(pod *corev1.Pod) *framework.CycleState {
	b.t.Helper()
	state := framework.NewCycleState()
	if _, st := b.pl.PreFilter(context.Background(), state, pod, nil); !st.IsSuccess() {
		b.t.Fatalf("PreFilter: %v", st)
	}
	return state
}

// TestActivationOnlyForOwnRejections: a summary change activates a pod this plugin
// turned away, not one that only other plugins rejected (our Filter passed every
// node and the cycle ended).
func TestActivationOnlyForOwnRejections(t *testing.T) {
	b := newActivationBed(t)
	ours, others := upperPod("ours", "6"), upperPod("others", "2")
	if _, fits := b.cycle(ours); fits {
		t.Fatal("a 6 CPU pod fits a 4 CPU lower node")
	}
	if _, fits := b.cycle(others); !fits {
		t.Fatal("a 2 CPU pod does not fit a 4 CPU lower node")
	}
	b.change()
	if got, want := b.activated(), []string{key(ours)}; !slices.Equal(got, want) {
		t.Errorf("a summary change activated %v, want %v", got, want)
	}
	b.clock.Set(b.clock.Now().Add(podMaxBackoffDuration))
	b.change()
	if got := b.activated(); got != nil {
		t.Errorf("a second change activated %v; no pod has been turned away since", got)
	}
}

// TestActivationInFlight: a pod whose cycle is running when a summary lands (its view
// is older) is activated when this plugin turns it away in that cycle, while still in
// flight; if this plugin lets it through and another plugin rejects it, it is not.
func TestActivationInFlight(t *testing.T) {
	b := newActivationBed(t)
	big, small := upperPod("big", "6"), upperPod("small", "2")
	bigState, smallState := b.preFilter(big), b.preFilter(small)
	b.change()
	if got := b.activated(); got != nil {
		t.Errorf("activated %v before any plugin turned a pod away", got)
	}
	if st := b.pl.Filter(context.Background(), bigState, big, virtualNode("vk-a")); st.IsSuccess() {
		t.Fatal("a 6 CPU pod fits")
	}
	if got, want := b.activated(), []string{key(big)}; !slices.Equal(got, want) {
		t.Errorf("turning away a pod in flight after a change activated %v, want %v", got, want)
	}
	if st := b.pl.Filter(context.Background(), smallState, small, virtualNode("vk-a")); !st.IsSuccess() {
		t.Fatalf("a 2 CPU pod: %v", st)
	}
	if got := b.activated(); got != nil {
		t.Errorf("activated %v, which this plugin let through", got)
	}
	// The same cycle's Filter on another node turns the pod away again: it was
	// activated for this change already.
	if st := b.pl.Filter(context.Background(), bigState, big, virtualNode("vk-a")); st.IsSuccess() {
		t.Fatal("a 6 CPU pod fits")
	}
	if got := b.activated(); got != nil {
		t.Errorf("a second rejection in the same cycle activated %v", got)
	}
	// A change that lands after the cycle ended without our rejection and before the
	// pod comes back activates nothing.
	b.clock.Set(b.clock.Now().Add(podMaxBackoffDuration))
	b.change()
	if got := b.activated(); got != nil {
		t.Errorf("a change after the cycles activated %v", got)
	}
}

// TestActivationBackoff: a pod turned away again right after its activation is not
// activated at once by the next change, but when its backoff ends, by the plugin's
// backoff loop; a change during the backoff is not lost.
func TestActivationBackoff(t *testing.T) {
	b := newActivationBed(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.pl.runBackoff(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	pod := upperPod("big", "64")
	b.cycle(pod)
	b.change()
	if got := b.activated(); len(got) != 1 {
		t.Fatalf("first change activated %v, want the pod", got)
	}
	start := b.clock.Now()
	b.clock.Set(start.Add(podInitialBackoffDuration / 2))
	b.cycle(pod) // the activated pod is turned away again
	b.change()
	if got := b.activated(); got != nil {
		t.Errorf("a change within the backoff activated %v at once", got)
	}
	if got, want := b.pl.waiting.nextWake(), start.Add(podInitialBackoffDuration); !got.Equal(want) {
		t.Fatalf("backoff loop wakes at %v, want %v", got, want)
	}
	b.clock.Set(start.Add(podInitialBackoffDuration))
	select { // the fake clock moved: have the loop look again
	case b.pl.waiting.kick <- struct{}{}:
	default:
	}
	deadline := time.Now().Add(10 * time.Second)
	got := b.activated()
	for ; got == nil && time.Now().Before(deadline); got = b.activated() {
		time.Sleep(5 * time.Millisecond)
	}
	if want := []string{key(pod)}; !slices.Equal(got, want) {
		t.Errorf("when the backoff ended the loop activated %v, want %v", got, want)
	}
	if w := b.pl.waiting.nextWake(); !w.IsZero() {
		t.Errorf("backoff loop still due at %v with nothing owed", w)
	}
}

// TestActivationBackoffGrows: each activation of the same pod doubles its backoff,
// from kube-scheduler's 1 s up to its 10 s cap.
func TestActivationBackoffGrows(t *testing.T) {
	b := newActivationBed(t)
	pod := upperPod("big", "64")
	for i, want := range []time.Duration{0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second} {
		last := b.clock.Now()
		b.cycle(pod)
		if want > 0 {
			b.clock.Set(last.Add(want - time.Millisecond))
			b.change()
			if got := b.activated(); got != nil {
				t.Fatalf("activation %d: activated %s after the previous, want %s", i+1, want-time.Millisecond, want)
			}
			b.clock.Set(last.Add(want))
		}
		b.change()
		if got := b.activated(); len(got) != 1 {
			t.Fatalf("activation %d: %v at %s after the previous, want the pod", i+1, got, want)
		}
	}
}
