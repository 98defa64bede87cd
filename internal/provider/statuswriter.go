package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// statusWriter writes upper pod statuses as a kubelet's status manager does: a
// strategic-merge patch of the pods/status subresource holding only what changed, with
// the pod's UID as precondition and no resourceVersion. virtual-kubelet's own writer
// (the PodNotifier callback) sends the whole pod with the resourceVersion of its
// informer's copy, which lags under load: about one write in two lost that race (409)
// and was retried. A patch cannot lose it, and conditions others own (merged by type)
// are never sent, so a concurrent writer's condition is never undone.
//
// The writer remembers, per pod, the status its last write returned. Until the upper
// pod cache shows that write, it is what the API server holds: a later status is
// diffed against it, and a status equal to it is not written again (the cache alone
// would say every status is still due).
type statusWriter struct {
	client kubernetes.Interface
	clock  clock.PassiveClock

	mu      sync.Mutex
	written map[string]writtenStatus // upper pod key -> our last write
	held    map[string]time.Time     // upper pod key -> when a Pending write was first held
}

// pendingHold is how long a Pending status may wait before it is written. A lower pod
// goes Pending -> scheduled -> Running within a fraction of a second; without the hold
// each step is a write. Running and terminal statuses are written at once.
const pendingHold = time.Second

// unreportedHold is how long a Pending status may wait while the lower pod has nothing
// a kubelet would report: not scheduled yet (and not refused), or bound to a node whose
// kubelet has not reported it (no hostIP). A kubelet's first status write is when it
// admits the pod; before that the upper pod, bound already, says all there is. Written
// after the ordinary hold, those steps were one write each under load (issue #14: 2.1-2.3
// writes per pod, of 1,000 pods 530 unscheduled and 618 placed, where at most 2 were the
// goal). The descheduler acts on PodScheduled=False only, which is written soon, and the
// scheduler plugin trusts a placement only once the kubelet's hostIP is there. A lower
// pod that stays at such a step still shows up after the hold.
const unreportedHold = 30 * time.Second

// Steps of a lower pod (lowerStep), as far as a kubelet would report them.
const (
	stepUnscheduled   = "unscheduled"   // no node yet, not refused
	stepUnschedulable = "unschedulable" // PodScheduled=False: the lower scheduler refused it
	stepPlaced        = "placed"        // bound, its kubelet has not reported it
	stepStarted       = "started"       // reported by its kubelet (hostIP), still Pending
	stepRunning       = "running"
	stepTerminal      = "terminal"
	stepNoLowerPod    = "no-lower-pod" // a status of the provider's own (a pod that waits)
)

// lowerStep names how far a lower pod has come.
func lowerStep(lower *corev1.Pod) string {
	switch {
	case lower.Status.Phase == corev1.PodSucceeded || lower.Status.Phase == corev1.PodFailed:
		return stepTerminal
	case lower.Status.Phase == corev1.PodRunning:
		return stepRunning
	case lower.Status.HostIP != "":
		return stepStarted
	case lower.Spec.NodeName != "":
		return stepPlaced
	}
	for _, c := range lower.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return stepUnschedulable
		}
	}
	return stepUnscheduled
}

// holdFor is the hold of a Pending status of a lower pod at step (lowerStep):
// unreportedHold while it has nothing a kubelet would report, else pendingHold.
func holdFor(step string) time.Duration {
	if step == stepUnscheduled || step == stepPlaced {
		return unreportedHold
	}
	return pendingHold
}

// hold reports how much longer a Pending write for key waits (zero: write it now) when
// such a write may wait limit. The hold starts with the first Pending write due and
// never extends: limit counts from then.
func (w *statusWriter) hold(key string, limit time.Duration) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.clock.Now()
	since, ok := w.held[key]
	if !ok {
		w.held[key] = now
		return limit
	}
	if left := limit - now.Sub(since); left > 0 {
		return left
	}
	return 0
}

// writtenStatus is the last status written for a pod.
type writtenStatus struct {
	uid types.UID
	// basedOn is the resourceVersion of the cached upper pod the write was computed
	// against: while the cache still shows it, the cache has not seen the write.
	basedOn string
	status  corev1.PodStatus // as the API server returned it
	at      time.Time
}

// staleStatus is how long a write may stay unseen by the upper pod cache before the
// cache is trusted again: a status that still differs is then written again (a
// repair, tensile_virtual_node_status_repairs_total).
const staleStatus = 5 * time.Second

func newStatusWriter(client kubernetes.Interface, clk clock.PassiveClock) *statusWriter {
	return &statusWriter{client: client, clock: clk, written: map[string]writtenStatus{}, held: map[string]time.Time{}}
}

// base returns the status the API server holds for upper as far as the writer knows,
// and whether it is the cache's own after a write the cache did not show in time.
func (w *statusWriter) base(upper *corev1.Pod) (st *corev1.PodStatus, repair bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	key := podKey(upper.Namespace, upper.Name)
	rec, ok := w.written[key]
	if !ok {
		return &upper.Status, false
	}
	if rec.uid != upper.UID || rec.basedOn != upper.ResourceVersion {
		// The cache has moved since our write: it is current, and the record is no
		// longer needed.
		delete(w.written, key)
		return &upper.Status, false
	}
	if w.clock.Since(rec.at) >= staleStatus {
		return &upper.Status, true
	}
	return &rec.status, false
}

// current reports whether the upper pod's status is want as far as the writer knows.
func (w *statusWriter) current(upper *corev1.Pod, want *corev1.PodStatus) bool {
	base, _ := w.base(upper)
	return apiequality.Semantic.DeepEqual(*base, *want)
}

// write makes upper's status want, upper being the cached pod; it writes nothing when
// the status is want already as far as it knows. It reports whether it wrote. step
// is the lower pod's (lowerStep), for the metric.
func (w *statusWriter) write(ctx context.Context, upper *corev1.Pod, want corev1.PodStatus, step string) (bool, error) {
	base, repair := w.base(upper)
	if apiequality.Semantic.DeepEqual(*base, want) {
		return false, nil
	}
	key := podKey(upper.Namespace, upper.Name)
	if repair {
		// The cache has not shown our write for staleStatus: it lags (its watch was
		// closed for a slow client and it is listing again) far more often than the
		// write was lost. Ask the API server, a read, before writing again.
		live, err := w.client.CoreV1().Pods(upper.Namespace).Get(ctx, upper.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			w.forget(key)
			return false, nil
		case err != nil:
			return false, fmt.Errorf("reading the status of pod %s: %w", key, err)
		case live.UID != upper.UID:
			w.forget(key)
			return false, nil // re-created: the cache will show the new pod, queued then
		case apiequality.Semantic.DeepEqual(live.Status, want):
			w.mu.Lock()
			if rec, ok := w.written[key]; ok {
				rec.at = w.clock.Now() // confirmed: trust it for another staleStatus
				w.written[key] = rec
			}
			w.mu.Unlock()
			statusConfirmations.Inc()
			return false, nil
		}
		base = &live.Status
	}
	patch, err := statusPatch(upper.UID, base, &want)
	if err != nil {
		return false, err
	}
	pod, err := w.client.CoreV1().Pods(upper.Namespace).Patch(ctx, upper.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	switch {
	case apierrors.IsNotFound(err):
		w.forget(key)
		return false, nil
	case err != nil:
		// A conflict (a pod re-created under the name: the UID precondition) or any other
		// refusal: the next try diffs against the cache, which is then trusted.
		w.forget(key)
		if apierrors.IsConflict(err) {
			klog.FromContext(ctx).V(2).Info("Pod status write conflicted; retrying from the cache", "pod", key, "err", err.Error())
		}
		return false, fmt.Errorf("writing the status of pod %s: %w", key, err)
	}
	if repair {
		statusRepairs.Inc()
	}
	statusWrites.WithLabelValues(step, strconv.FormatBool(repair)).Inc()
	w.mu.Lock()
	w.written[key] = writtenStatus{uid: upper.UID, basedOn: upper.ResourceVersion, status: pod.Status, at: w.clock.Now()}
	delete(w.held, key)
	w.mu.Unlock()
	return true, nil
}

// forget drops what the writer remembers of a pod.
func (w *statusWriter) forget(key string) {
	w.mu.Lock()
	delete(w.written, key)
	delete(w.held, key)
	w.mu.Unlock()
}

// statusPatch is the strategic-merge patch from status from to status to, with uid as a
// precondition (the kubelet's, k8s.io/kubernetes/pkg/util/pod.PatchPodStatus): the
// UID is in the new object only, so the patch always names it and the API server
// refuses it for another pod of the name.
func statusPatch(uid types.UID, from, to *corev1.PodStatus) ([]byte, error) {
	o, err := json.Marshal(corev1.Pod{Status: *from})
	if err != nil {
		return nil, err
	}
	n, err := json.Marshal(corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: uid}, Status: *to})
	if err != nil {
		return nil, err
	}
	return strategicpatch.CreateTwoWayMergePatch(o, n, corev1.Pod{})
}
