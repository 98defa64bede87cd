package provider

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/component-base/metrics/testutil"
	clocktesting "k8s.io/utils/clock/testing"
)

// writerPod is an upper pod as the cache shows it, Pending, with the scheduler's
// condition and one condition of a controller above.
func writerPod() *corev1.Pod {
	t0 := metav1.NewTime(time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC))
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "app", UID: "uid-1", ResourceVersion: "10"},
		Status: corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSBestEffort, Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: t0},
			{Type: "example.com/gate", Status: corev1.ConditionFalse, LastTransitionTime: t0},
		}},
	}
}

// running is the status of writerPod once its lower pod runs.
func running(pod *corev1.Pod, ip string) corev1.PodStatus {
	st := *pod.Status.DeepCopy()
	st.Phase, st.PodIP, st.PodIPs = corev1.PodRunning, ip, []corev1.PodIP{{IP: ip}}
	st.Conditions = append(st.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue})
	st.ContainerStatuses = []corev1.ContainerStatus{{Name: "web", Ready: true,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	return st
}

// writerEnv is a statusWriter on a fake upper cluster holding writerPod, with a fake
// clock; patches lists the pods/status patches the writer sent.
type writerEnv struct {
	w      *statusWriter
	clock  *clocktesting.FakeClock
	client *fake.Clientset
	cached *corev1.Pod // the upper pod cache's copy: it never sees the writes
}

func newWriterEnv(t *testing.T) *writerEnv {
	t.Helper()
	cached := writerPod()
	client := fake.NewClientset(cached.DeepCopy())
	clk := clocktesting.NewFakeClock(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC))
	return &writerEnv{w: newStatusWriter(client, clk), clock: clk, client: client, cached: cached}
}

func (e *writerEnv) patches() [][]byte {
	var out [][]byte
	for _, a := range e.client.Actions() {
		if p, ok := a.(clienttesting.PatchAction); ok && a.GetSubresource() == "status" {
			out = append(out, p.GetPatch())
		}
	}
	return out
}

func (e *writerEnv) live(t *testing.T) *corev1.Pod {
	t.Helper()
	p, err := e.client.CoreV1().Pods("app").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestStatusWriterPatch: a write is a strategic-merge patch of pods/status that names
// the pod's UID and only what changed; conditions others own are not in it, and one
// added above meanwhile (not in the cache) survives the write.
func TestStatusWriterPatch(t *testing.T) {
	e := newWriterEnv(t)
	ctx := context.Background()
	// A controller above adds a condition the cache has not seen yet.
	live := e.live(t)
	live.Status.Conditions = append(live.Status.Conditions, corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue})
	if _, err := e.client.CoreV1().Pods("app").UpdateStatus(ctx, live, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	want := running(e.cached, "10.0.0.5")
	written := func() float64 {
		v, err := testutil.GetCounterMetricValue(statusWrites.WithLabelValues(stepRunning, "false"))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := written()
	wrote, err := e.w.write(ctx, e.cached, want, stepRunning)
	if err != nil || !wrote {
		t.Fatalf("write = %v, %v; want a write", wrote, err)
	}
	if n := written() - before; n != 1 {
		t.Errorf("pod_status_writes_total{step=%q,repair=false} grew by %v, want 1", stepRunning, n)
	}
	patches := e.patches()
	if len(patches) != 1 {
		t.Fatalf("%d status patches, want 1", len(patches))
	}
	var patch struct {
		Metadata map[string]any `json:"metadata"`
		Status   map[string]any `json:"status"`
	}
	if err := json.Unmarshal(patches[0], &patch); err != nil {
		t.Fatal(err)
	}
	if patch.Metadata["uid"] != "uid-1" || len(patch.Metadata) != 1 {
		t.Errorf("patch metadata %v, want the UID precondition alone", patch.Metadata)
	}
	if _, ok := patch.Status["qosClass"]; ok {
		t.Errorf("patch %s sends the unchanged qosClass", patches[0])
	}
	for _, c := range patch.Status["conditions"].([]any) {
		if typ := c.(map[string]any)["type"]; typ != string(corev1.PodReady) {
			t.Errorf("patch %s sends condition %v, which did not change", patches[0], typ)
		}
	}
	got := e.live(t).Status
	// The patch orders the conditions it knows; the one it does not know follows.
	want.Conditions = append(want.Conditions, corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("upper status after the write (-want +got):\n%s", diff)
	}
}

// TestStatusWriterCoalesces: while the cache has not shown a write, the same status is
// not written again, and a newer one is diffed against what was written.
func TestStatusWriterCoalesces(t *testing.T) {
	e := newWriterEnv(t)
	ctx := context.Background()
	first := running(e.cached, "10.0.0.5")
	for range 3 { // virtual-kubelet's re-syncs and the status re-check
		if _, err := e.w.write(ctx, e.cached, first, "running"); err != nil {
			t.Fatal(err)
		}
		if !e.w.current(e.cached, &first) {
			t.Error("the written status is not current while the cache lags")
		}
	}
	if n := len(e.patches()); n != 1 {
		t.Fatalf("%d status patches for one status, want 1", n)
	}
	second := running(e.cached, "10.0.0.6")
	if wrote, err := e.w.write(ctx, e.cached, second, "running"); err != nil || !wrote {
		t.Fatalf("write of a new status = %v, %v; want a write", wrote, err)
	}
	patches := e.patches()
	var patch struct {
		Status map[string]any `json:"status"`
	}
	if err := json.Unmarshal(patches[len(patches)-1], &patch); err != nil {
		t.Fatal(err)
	}
	if _, ok := patch.Status["phase"]; ok {
		t.Errorf("second patch %s sends the phase written before", patches[1])
	}
	if got := e.live(t).Status.PodIP; got != "10.0.0.6" {
		t.Errorf("podIP %q after the second write, want 10.0.0.6", got)
	}
}

// TestStatusWriterConfirm: a write the upper pod cache has not shown after 5 s is read
// back from the API server; found as written, it is not written again, and trusted for
// another 5 s.
func TestStatusWriterConfirm(t *testing.T) {
	e := newWriterEnv(t)
	ctx := context.Background()
	want := running(e.cached, "10.0.0.5")
	if _, err := e.w.write(ctx, e.cached, want, "running"); err != nil {
		t.Fatal(err)
	}
	confirmations := func() float64 {
		v, err := testutil.GetCounterMetricValue(statusConfirmations)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := confirmations()
	e.clock.Step(staleStatus)
	if wrote, err := e.w.write(ctx, e.cached, want, "running"); wrote || err != nil {
		t.Fatalf("write after staleStatus of a status the API server holds = %v, %v; want none", wrote, err)
	}
	if got := confirmations() - before; got != 1 {
		t.Errorf("confirmations counted %v, want 1", got)
	}
	e.clock.Step(staleStatus - time.Millisecond)
	if wrote, err := e.w.write(ctx, e.cached, want, "running"); wrote || err != nil {
		t.Fatalf("write within staleStatus of the confirmation = %v, %v; want none", wrote, err)
	}
	if got := confirmations() - before; got != 1 {
		t.Errorf("confirmations counted %v after a write within staleStatus of the last, want still 1", got)
	}
	if n := len(e.patches()); n != 1 {
		t.Errorf("%d status patches, want 1 (the write only)", n)
	}
}

// TestStatusWriterRepair: a write the upper pod cache has not shown after 5 s, and that
// the API server does not hold (someone wrote another status since), is written again
// against what the API server holds (a repair), and not before.
func TestStatusWriterRepair(t *testing.T) {
	e := newWriterEnv(t)
	ctx := context.Background()
	want := running(e.cached, "10.0.0.5")
	if _, err := e.w.write(ctx, e.cached, want, "running"); err != nil {
		t.Fatal(err)
	}
	// Another writer changes the status behind the writer's back; the cache shows neither.
	other := e.live(t)
	other.Status.PodIP = "10.9.9.9"
	if _, err := e.client.CoreV1().Pods("app").UpdateStatus(ctx, other, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	repairs := func() float64 {
		v, err := testutil.GetCounterMetricValue(statusRepairs)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := repairs()
	e.clock.Step(staleStatus - time.Millisecond)
	if wrote, err := e.w.write(ctx, e.cached, want, "running"); wrote || err != nil {
		t.Fatalf("write %v before staleStatus = %v, %v; want none", staleStatus-time.Millisecond, wrote, err)
	}
	e.clock.Step(time.Millisecond)
	if wrote, err := e.w.write(ctx, e.cached, want, "running"); !wrote || err != nil {
		t.Fatalf("write after staleStatus = %v, %v; want a repair", wrote, err)
	}
	if got := repairs() - before; got != 1 {
		t.Errorf("status repairs counted %v, want 1", got)
	}
	// Once the cache shows a write (its resourceVersion moved), it is trusted at once.
	seen := e.cached.DeepCopy()
	seen.ResourceVersion, seen.Status = "11", want
	if wrote, err := e.w.write(ctx, seen, want, "running"); wrote || err != nil {
		t.Errorf("write of the status the cache shows = %v, %v; want none", wrote, err)
	}
	if len(e.w.written) != 0 {
		t.Errorf("the writer still remembers %d writes the cache shows, want none", len(e.w.written))
	}
	if n := len(e.patches()); n != 2 {
		t.Errorf("%d status patches, want 2 (the write and one repair)", n)
	}
}

// TestStatusWriterConflict: a write the API server refuses with a conflict (a pod
// re-created under the name fails the UID precondition) is returned, for the queue to
// retry with backoff, and forgotten: the retry diffs against the cache.
func TestStatusWriterConflict(t *testing.T) {
	e := newWriterEnv(t)
	ctx := context.Background()
	want := running(e.cached, "10.0.0.5")
	if _, err := e.w.write(ctx, e.cached, want, "running"); err != nil {
		t.Fatal(err)
	}
	conflicts := 1
	e.client.PrependReactor("patch", "pods", func(clienttesting.Action) (bool, runtime.Object, error) {
		if conflicts == 0 {
			return false, nil, nil
		}
		conflicts--
		return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "pods"}, "web", errors.New("the UID in the precondition does not match"))
	})
	next := running(e.cached, "10.0.0.6")
	_, err := e.w.write(ctx, e.cached, next, "running")
	if !apierrors.IsConflict(err) {
		t.Fatalf("write during a conflict: %v, want the conflict", err)
	}
	if e.w.current(e.cached, &want) {
		t.Error("the write before the conflict is still trusted")
	}
	if wrote, err := e.w.write(ctx, e.cached, next, "running"); !wrote || err != nil {
		t.Fatalf("retry = %v, %v; want a write", wrote, err)
	}
	if got := e.live(t).Status.PodIP; got != "10.0.0.6" {
		t.Errorf("podIP %q after the retry, want 10.0.0.6", got)
	}
}

// TestStatusWriterGone: a pod deleted above is no error, and is forgotten.
func TestStatusWriterGone(t *testing.T) {
	e := newWriterEnv(t)
	ctx := context.Background()
	if err := e.client.CoreV1().Pods("app").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if wrote, err := e.w.write(ctx, e.cached, running(e.cached, "10.0.0.5"), "running"); wrote || err != nil {
		t.Errorf("write to a deleted pod = %v, %v; want neither a write nor an error", wrote, err)
	}
	if len(e.w.written) != 0 {
		t.Errorf("the writer remembers %d pods, want none", len(e.w.written))
	}
}

// BenchmarkStatusWrite is the virtual node's CPU per status write: the patch (the
// writer's request body) against the whole pod virtual-kubelet's UpdateStatus sent
// (a copy with the new status, encoded), for the Pending -> Running write.
func BenchmarkStatusWrite(b *testing.B) {
	pod := writerPod()
	pod.Spec.Containers = []corev1.Container{{Name: "web", Image: "nginx:1", Command: []string{"sleep", "3600"}}}
	pod.Labels = map[string]string{"app": "web", "pod-template-hash": "5d8f7c9b6"}
	want := running(pod, "10.0.0.5")
	b.Run("patch", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := statusPatch(pod.UID, &pod.Status, &want); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("update", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p := pod.DeepCopy()
			p.Status = *want.DeepCopy()
			if _, err := json.Marshal(p); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestStatusWriterHold: a Pending write waits up to pendingHold from the first time it
// was due, never longer, and a write starts the next hold afresh.
func TestStatusWriterHold(t *testing.T) {
	e := newWriterEnv(t)
	key := podKey("app", "web")
	steps := []struct {
		step time.Duration
		want time.Duration
	}{{0, pendingHold}, {400 * time.Millisecond, pendingHold - 400*time.Millisecond}, {600 * time.Millisecond, 0}, {time.Hour, 0}}
	for _, s := range steps {
		e.clock.Step(s.step)
		if got := e.w.hold(key, pendingHold); got != s.want {
			t.Errorf("after %v more: hold %v, want %v", s.step, got, s.want)
		}
	}
	if _, err := e.w.write(context.Background(), e.cached, running(e.cached, "10.0.0.5"), "running"); err != nil {
		t.Fatal(err)
	}
	if got := e.w.hold(key, pendingHold); got != pendingHold {
		t.Errorf("hold after a write %v, want a new hold of %v", got, pendingHold)
	}
}

// TestStatusWriterUnreportedHold: a Pending status of a lower pod with nothing a kubelet
// would report (not scheduled yet, or bound and not reported by its kubelet) waits up to
// unreportedHold; a refusal by the lower scheduler and the kubelet's first status get
// the ordinary hold, counted from the first time a write was due.
func TestStatusWriterUnreportedHold(t *testing.T) {
	unplaced := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending}}
	refused := unplaced.DeepCopy()
	refused.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}}
	placed := &corev1.Pod{Spec: corev1.PodSpec{NodeName: "worker-1"}, Status: corev1.PodStatus{Phase: corev1.PodPending,
		Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}}}
	reported := placed.DeepCopy()
	reported.Status.HostIP = "192.168.1.3"
	for _, tc := range []struct {
		name  string
		lower *corev1.Pod
		step  string
		want  time.Duration
	}{
		{"not scheduled below yet", unplaced, stepUnscheduled, unreportedHold},
		{"refused by the lower scheduler (the descheduler acts on it)", refused, stepUnschedulable, pendingHold},
		{"placed, no kubelet status yet", placed, stepPlaced, unreportedHold},
		{"placed and reported by the kubelet", reported, stepStarted, pendingHold},
	} {
		if got := lowerStep(tc.lower); got != tc.step {
			t.Errorf("%s: lowerStep = %q, want %q", tc.name, got, tc.step)
		}
		if got := holdFor(lowerStep(tc.lower)); got != tc.want {
			t.Errorf("%s: holdFor = %v, want %v", tc.name, got, tc.want)
		}
	}

	e := newWriterEnv(t)
	key := podKey("app", "web")
	if got := e.w.hold(key, holdFor(stepUnscheduled)); got != unreportedHold {
		t.Fatalf("first hold of an unscheduled pod %v, want %v", got, unreportedHold)
	}
	e.clock.Step(3 * time.Second)
	if got := e.w.hold(key, holdFor(stepPlaced)); got != unreportedHold-3*time.Second {
		t.Errorf("placed 3s later: hold %v, want %v", got, unreportedHold-3*time.Second)
	}
	if got := e.w.hold(key, holdFor(stepStarted)); got != 0 {
		t.Errorf("once the kubelet reports the pod, 3s after the first hold: hold %v, want 0 (write now)", got)
	}
}
