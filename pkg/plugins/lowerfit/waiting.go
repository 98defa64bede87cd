package lowerfit

import (
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// The plugin's activation backoff, named after and equal to kube-scheduler's defaults
// (podInitialBackoffSeconds 1, podMaxBackoffSeconds 10). Activate moves a pod
// straight to the active queue, past the queue's own backoff, which a queueing hint's
// Queue respected: the plugin backs off itself, so that an unfittable pod is not
// retried on every summary change (several a second at 100 busy virtual nodes).
const (
	podInitialBackoffDuration = 1 * time.Second
	podMaxBackoffDuration     = 10 * time.Second
)

// waiting is the set of pods that entered a scheduling cycle with this plugin and
// have not been placed since. The plugin watches ClusterSummaries with its own typed
// informer only and activates these pods itself when a summary changes
// (fwk.Handle.Activate). Registering the ClusterSummary event with the scheduler
// instead would make kube-scheduler start a dynamic informer that keeps a second,
// unstructured copy of every summary: at 100 virtual nodes the largest share of the
// plugin's memory (docs/benchmarks.md, "Where the memory goes").
//
// As with a queueing hint, a summary change activates only the pods this plugin
// turned away, and each pod no sooner than its backoff allows:
//   - a pod turned away in its last cycle (reject) is activated by a change that
//     came after that cycle's PreFilter;
//   - a pod still in its cycle when a change lands is marked; if this plugin then
//     turns it away, reject activates it at once, while it is still in flight (the
//     queue records a force-activate event and retries it when the cycle ends);
//   - a pod whose cycle ended without this plugin turning it away (rejected by
//     other plugins only) is never activated by a change;
//   - a pod in backoff is activated when the backoff ends, by the plugin's
//     backoff loop (runBackoff), if a change is still owed to it.
type waiting struct {
	mu   sync.Mutex
	pods map[types.UID]*waitingPod
	// cycles numbers the cycles that PreFilter starts, so that a cycle's late Filter
	// does not flag an entry that was activated or restarted since.
	cycles uint64
	// wake is the earliest backoff end of an entry owed an activation; zero if none.
	wake time.Time
	// kick tells the backoff loop that wake moved earlier.
	kick chan struct{}
}

// waitingPod is one pod's entry in the waiting set.
type waitingPod struct {
	pod *corev1.Pod
	// cycle is the number of the pod's live cycle; 0 once the pod is activated and
	// until its next PreFilter.
	cycle uint64
	// rejected: this plugin turned the pod away in that cycle.
	rejected bool
	// owed: a summary changed after that cycle's PreFilter took its view, and the pod
	// has not been activated for it.
	owed bool
	// attempts counts the plugin's activations of the pod; backoffUntil is when the
	// next may happen.
	attempts     int
	backoffUntil time.Time
}

func newWaiting() *waiting {
	return &waiting{pods: map[types.UID]*waitingPod{}, kick: make(chan struct{}, 1)}
}

// add records a pod entering a cycle and returns the cycle's number. PreFilter calls
// it before it takes the view, so a summary that lands after the view was taken finds
// the pod here. The new cycle's view holds every change so far: nothing is owed.
func (w *waiting) add(pod *corev1.Pod) uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cycles++
	e := w.pods[pod.UID]
	if e == nil {
		e = &waitingPod{}
		w.pods[pod.UID] = e
	}
	e.pod, e.cycle, e.rejected, e.owed = pod, w.cycles, false, false
	return w.cycles
}

// remove forgets a pod that was placed or deleted.
func (w *waiting) remove(uid types.UID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.pods, uid)
}

// reject flags that this plugin turned the pod away in the given cycle. If a summary
// changed during the cycle, the pod is activated now (or when its backoff ends).
func (w *waiting) reject(uid types.UID, cycle uint64, now time.Time) map[string]*corev1.Pod {
	w.mu.Lock()
	defer w.mu.Unlock()
	e := w.pods[uid]
	if e == nil || e.cycle != cycle || e.rejected {
		return nil
	}
	e.rejected = true
	if !e.owed {
		return nil
	}
	out := map[string]*corev1.Pod{}
	w.consider(e, now, out)
	return out
}

// changed records a summary change and returns the pods to activate for it: those
// this plugin turned away since their last activation and out of backoff. Pods in a
// cycle are owed the change; see reject.
func (w *waiting) changed(now time.Time) map[string]*corev1.Pod {
	return w.pass(now, true)
}

// expired returns the pods owed a change whose backoff has ended; the backoff loop
// calls it at wake.
func (w *waiting) expired(now time.Time) map[string]*corev1.Pod {
	return w.pass(now, false)
}

// pass visits every entry; with change it first marks the pods in a cycle as owed.
// It recomputes wake from the entries left in backoff.
func (w *waiting) pass(now time.Time, change bool) map[string]*corev1.Pod {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]*corev1.Pod{}
	w.wake = time.Time{}
	for _, e := range w.pods {
		if change && e.cycle != 0 {
			e.owed = true
		}
		w.consider(e, now, out)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// consider activates e into out if this plugin turned it away, a change is owed to
// it and its backoff has ended; if only the backoff stands in the way, it moves wake
// to the backoff's end. Called with w.mu held.
func (w *waiting) consider(e *waitingPod, now time.Time, out map[string]*corev1.Pod) {
	if !e.rejected || !e.owed {
		return
	}
	if now.Before(e.backoffUntil) {
		if w.wake.IsZero() || e.backoffUntil.Before(w.wake) {
			w.wake = e.backoffUntil
			select {
			case w.kick <- struct{}{}:
			default:
			}
		}
		return
	}
	out[types.NamespacedName{Namespace: e.pod.Namespace, Name: e.pod.Name}.String()] = e.pod
	e.attempts++
	e.backoffUntil = now.Add(backoffFor(e.attempts))
	e.cycle, e.rejected, e.owed = 0, false, false
}

// backoffFor is the wait after a pod's n-th activation: kube-scheduler's schedule,
// the initial duration doubled per earlier activation, capped.
func backoffFor(n int) time.Duration {
	d := podInitialBackoffDuration
	for i := 1; i < n && d < podMaxBackoffDuration; i++ {
		d *= 2
	}
	return min(d, podMaxBackoffDuration)
}

// nextWake is when the backoff loop must run expired next; zero if never.
func (w *waiting) nextWake() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.wake
}

// len is the number of waiting pods.
func (w *waiting) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pods)
}
