package provider_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/tensile-kube/tensile/internal/eventually"
	"github.com/tensile-kube/tensile/internal/provider"
	"github.com/tensile-kube/tensile/internal/translate"
)

// TestStatusNotification: a change of the lower pod's status reaches the PodNotifier
// callback as the upper pod (upper namespace, UID and spec) carrying the lower status.
func TestStatusNotification(t *testing.T) {
	o := mappedOwner(t)
	up := upperPod("web", "uid-1")
	low := ownedPod(o, "web", "uid-1", "lower-1")
	low.Status = up.Status // in step: nothing to report yet
	e := newEnv(t, o, objects(up), objects(low))
	sent := e.run(t)

	start := metav1.NewTime(time.Now().Truncate(time.Second))
	status := corev1.PodStatus{
		Phase:     corev1.PodRunning,
		PodIP:     "10.0.0.5",
		PodIPs:    []corev1.PodIP{{IP: "10.0.0.5"}},
		HostIP:    "192.168.0.1",
		HostIPs:   []corev1.HostIP{{IP: "192.168.0.1"}},
		StartTime: &start,
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: start},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: start},
		},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "web", Image: "nginx:1", Ready: true, Started: ptr.To(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: start}}}},
	}
	running := low.DeepCopy()
	running.Status = status
	if _, err := e.lower.CoreV1().Pods("app-upper-1").UpdateStatus(e.ctx, running, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	var got *corev1.Pod
	eventually.True(t, 5*time.Second, "a notification of the running status", func() bool {
		got = sent.find(func(p *corev1.Pod) bool { return p.Name == "web" && p.Status.Phase == corev1.PodRunning })
		return got != nil
	})
	want := up.DeepCopy()
	want.Status = status
	if diff := cmp.Diff(want, got, cmpEquateEmpty); diff != "" {
		t.Errorf("notified pod (-want +got):\n%s", diff)
	}
}

// TestFinishUpperPod: an upper pod being deleted whose lower pod is gone is deleted
// upstairs at once, with a UID precondition, whether its lower pod goes through
// DeletePod or was already gone.
func TestFinishUpperPod(t *testing.T) {
	o := mappedOwner(t)
	for _, tc := range []struct {
		name  string
		lower []runtime.Object
	}{
		{name: "lower pod deleted by DeletePod", lower: objects(ownedPod(o, "web", "uid-1", "lower-1"))},
		{name: "no lower pod"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := upperPod("web", "uid-1")
			up.DeletionTimestamp = ptr.To(metav1.Now())
			up.DeletionGracePeriodSeconds = ptr.To[int64](30)
			e := newEnv(t, o, objects(up), tc.lower)
			e.run(t)
			err := e.p.DeletePod(e.ctx, up)
			if len(tc.lower) > 0 && err != nil {
				t.Fatalf("DeletePod: %v", err)
			}
			if len(tc.lower) == 0 && !errdefs.IsNotFound(err) {
				t.Fatalf("DeletePod with no lower pod: %v, want NotFound", err)
			}
			eventually.True(t, 5*time.Second, "the upper pod to be deleted", func() bool {
				return len(deletes(e.upper, "pods")) > 0
			})
			if diff := cmp.Diff([]string{"app/web grace=0 uid=uid-1"}, deletes(e.upper, "pods")[:1]); diff != "" {
				t.Errorf("upper pod delete (-want +got):\n%s", diff)
			}
			if _, err := e.upper.CoreV1().Pods("app").Get(e.ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("upper pod after the delete: %v, want NotFound", err)
			}
		})
	}
}

// TestLowerPodRecreated: a lower pod deleted behind the node's back while its upper pod
// should run is created again, with a LowerPodRecreated event on the upper pod.
func TestLowerPodRecreated(t *testing.T) {
	o := mappedOwner(t)
	up := upperPod("web", "uid-1")
	e := newEnv(t, o, append(upperDeps(), up), nil)
	if err := e.p.CreatePod(e.ctx, up); err != nil {
		t.Fatal(err)
	}
	pods := e.lower.CoreV1().Pods("app-upper-1")
	first, err := pods.Get(e.ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.run(t)
	eventually.True(t, 5*time.Second, "the lower pod in the cache", func() bool {
		_, err := e.p.GetPod(e.ctx, "app", "web")
		return err == nil
	})
	if err := pods.Delete(e.ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, 5*time.Second, "the lower pod to be re-created", func() bool {
		p, err := pods.Get(context.Background(), "web", metav1.GetOptions{})
		return err == nil && p.UID != first.UID
	})
	again, _ := pods.Get(e.ctx, "web", metav1.GetOptions{})
	if !o.Owns(again) || translate.UpperUID(again) != "uid-1" {
		t.Errorf("re-created lower pod: labels %v annotations %v; want it marked for uid-1", again.Labels, again.Annotations)
	}
	eventually.True(t, 5*time.Second, "a LowerPodRecreated event", func() bool {
		events := e.recorder.recorded()
		return slices.Contains(events, recordedEvent{Object: "app/web", UID: "uid-1", Type: corev1.EventTypeWarning, Reason: provider.ReasonLowerRecreated})
	})
}

// TestOrphanRemoved: a lower pod of ours whose upper pod no longer exists is deleted
// with a UID precondition once the provider runs.
func TestOrphanRemoved(t *testing.T) {
	o := mappedOwner(t)
	e := newEnv(t, o, nil, objects(ownedPod(o, "gone", "uid-9", "lower-9")))
	e.run(t)
	eventually.True(t, 5*time.Second, "the orphan to be deleted", func() bool {
		return len(deletes(e.lower, "pods")) > 0
	})
	if diff := cmp.Diff("app-upper-1/gone grace=none uid=lower-9", deletes(e.lower, "pods")[0]); diff != "" {
		t.Errorf("orphan delete (-want +got):\n%s", diff)
	}
}

// TestLowerEventsReflected: a lower event about a pod of ours is recorded on its upper
// pod; one about a foreign pod is not.
func TestLowerEventsReflected(t *testing.T) {
	o := mappedOwner(t)
	up := upperPod("web", "uid-1")
	e := newEnv(t, o, objects(up), objects(ownedPod(o, "web", "uid-1", "lower-1"), foreignPod("app-upper-1", "other", nil)))
	now := metav1.Now()
	event := func(name, pod string, uid string, reason string) *corev1.Event {
		return &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: name, Namespace: "app-upper-1"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "app-upper-1", Name: pod, UID: types.UID(uid)},
			Type:           corev1.EventTypeWarning, Reason: reason, Message: "m", LastTimestamp: now, Count: 1,
		}
	}
	// Handlers see events in order: once the second is reflected, the first was seen.
	for _, ev := range []*corev1.Event{
		event("e1", "other", "foreign-uid", "ForeignThing"),
		event("e2", "web", "lower-0", "OldPodThing"), // the name's earlier lower pod
		event("e3", "web", "lower-1", "BackOff"),
	} {
		if _, err := e.lower.CoreV1().Events("app-upper-1").Create(e.ctx, ev, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	want := []recordedEvent{{Object: "app/web", UID: "uid-1", Type: corev1.EventTypeWarning, Reason: "BackOff"}}
	eventually.True(t, 5*time.Second, "the BackOff event upstairs", func() bool {
		events := e.recorder.recorded()
		return len(events) > 0
	})
	events := e.recorder.recorded()
	if diff := cmp.Diff(want, events); diff != "" {
		t.Errorf("events upstairs (-want +got):\n%s", diff)
	}
}

// TestPlacedPendingHeld: the status path holds a Pending status for unreportedHold while
// the lower pod is bound but its kubelet has not reported it (PodScheduled=True, no
// hostIP), not the ordinary 1 s (pendingHold); the kubelet's first status goes up at once.
func TestPlacedPendingHeld(t *testing.T) {
	o := mappedOwner(t)
	up := upperPod("web", "uid-1")
	low := ownedPod(o, "web", "uid-1", "lower-1")
	low.Status = up.Status
	e := newEnv(t, o, objects(up), objects(low))
	sent := e.run(t)

	placed := low.DeepCopy()
	placed.Spec.NodeName = "worker-1"
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	placed.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now}}
	placed, err := e.lower.CoreV1().Pods(low.Namespace).Update(e.ctx, placed, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Twice the ordinary hold: a status path using it would have written by now.
	time.Sleep(2 * provider.PendingHold)
	if p := sent.find(func(p *corev1.Pod) bool { return p.Name == "web" }); p != nil {
		t.Fatalf("status written %v after the lower pod was placed, before its kubelet reported it: %+v", 2*provider.PendingHold, p.Status)
	}
	reported := placed.DeepCopy()
	reported.Status.Phase, reported.Status.HostIP = corev1.PodRunning, "192.168.0.1"
	if _, err := e.lower.CoreV1().Pods(low.Namespace).UpdateStatus(e.ctx, reported, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, 5*time.Second, "the kubelet's first status written at once", func() bool {
		return sent.find(func(p *corev1.Pod) bool { return p.Name == "web" && p.Status.Phase == corev1.PodRunning }) != nil
	})
}
