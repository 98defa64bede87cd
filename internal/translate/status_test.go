package translate_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/tensile-kube/tensile/internal/translate"
)

var (
	t0 = metav1.NewTime(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))
	t1 = metav1.NewTime(t0.Add(time.Minute))
)

// upperForStatus is the upper pod a status update is computed for: deleting, with
// metadata that must survive the update untouched.
func upperForStatus(mods ...func(*corev1.Pod)) *corev1.Pod {
	p := upperPod(func(p *corev1.Pod) {
		p.Generation = 3
		p.ResourceVersion = "900"
		p.DeletionTimestamp = ptr.To(t1)
		p.DeletionGracePeriodSeconds = ptr.To[int64](30)
		p.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSBurstable}
	})
	for _, m := range mods {
		m(p)
	}
	return p
}

func runningStatus() corev1.PodStatus {
	start := t0
	return corev1.PodStatus{
		Phase:    corev1.PodRunning,
		QOSClass: corev1.PodQOSBestEffort,
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: t0},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: t1},
		},
		HostIP:    "192.168.1.10",
		HostIPs:   []corev1.HostIP{{IP: "192.168.1.10"}},
		PodIP:     "10.244.1.5",
		PodIPs:    []corev1.PodIP{{IP: "10.244.1.5"}, {IP: "fd00::5"}},
		StartTime: &start,
		InitContainerStatuses: []corev1.ContainerStatus{{
			Name: "init", Image: "busybox:1",
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", FinishedAt: t0}},
		}},
		ContainerStatuses: []corev1.ContainerStatus{{
			Name: "main", Image: "nginx:1.27", ImageID: "sha256:abc", ContainerID: "containerd://123",
			Ready: true, Started: ptr.To(true), RestartCount: 2,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: t1}},
		}},
	}
}

func TestStatusToUpper(t *testing.T) {
	for _, tc := range []struct {
		name  string
		upper *corev1.Pod
		lower corev1.PodStatus
		want  *corev1.Pod
	}{
		{
			name:  "running pod: phase, conditions, IPs, start time and container statuses copied; upper QOS kept",
			upper: upperForStatus(),
			lower: runningStatus(),
			want: upperForStatus(func(p *corev1.Pod) {
				p.Status = runningStatus()
				p.Status.QOSClass = corev1.PodQOSBurstable
				p.Status.ObservedGeneration = 3
			}),
		},
		{
			name: "unschedulable below: PodScheduled=False with reason and message",
			upper: upperForStatus(func(p *corev1.Pod) {
				p.Status.Phase = corev1.PodRunning
				p.Status.PodIP = "10.0.0.9"
			}),
			lower: corev1.PodStatus{
				Phase: corev1.PodPending,
				Conditions: []corev1.PodCondition{{
					Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
					Message: "0/3 nodes are available: 3 Insufficient cpu.", LastTransitionTime: t0,
				}},
			},
			want: upperForStatus(func(p *corev1.Pod) {
				p.Status = corev1.PodStatus{
					Phase: corev1.PodPending,
					Conditions: []corev1.PodCondition{{
						Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
						Message: "0/3 nodes are available: 3 Insufficient cpu.", LastTransitionTime: t0,
					}},
					QOSClass:           corev1.PodQOSBurstable,
					ObservedGeneration: 3,
				}
			}),
		},
		{
			name:  "failed pod: reason and message copied; lower QOS used when the upper has none",
			upper: upperForStatus(func(p *corev1.Pod) { p.Status.QOSClass = "" }),
			lower: corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted", Message: "low on memory", QOSClass: corev1.PodQOSBestEffort},
			want: upperForStatus(func(p *corev1.Pod) {
				p.Status = corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted", Message: "low on memory",
					QOSClass: corev1.PodQOSBestEffort, ObservedGeneration: 3}
			}),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lower := lowerRunning(func(p *corev1.Pod) {
				p.ResourceVersion = "5"
				p.Status = tc.lower
				// Synced below (through the ephemeralcontainers subresource).
				p.Spec.EphemeralContainers = tc.upper.Spec.EphemeralContainers
			})
			upperBefore := tc.upper.DeepCopy()
			got := translate.StatusToUpper(tc.upper, lower)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("upper pod (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(upperBefore, tc.upper); diff != "" {
				t.Errorf("upper input modified (-before +after):\n%s", diff)
			}
			// The result must not share memory with the lower pod.
			for i := range lower.Status.ContainerStatuses {
				lower.Status.ContainerStatuses[i].Name = "mutated"
			}
			for i := range lower.Status.Conditions {
				lower.Status.Conditions[i].Message = "mutated"
			}
			if lower.Status.StartTime != nil {
				lower.Status.StartTime.Time = time.Time{}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("result aliases the lower pod (-want +got):\n%s", diff)
			}
		})
	}
}

// BenchmarkStatusCheck is the provider's periodic status re-check of one owned pod:
// computing the upper pod with the lower status (what it did) versus the status alone
// (what it does; the pod is built only when a write is due).
func BenchmarkStatusCheck(b *testing.B) {
	upper, lower := upperForStatus(), upperForStatus(func(p *corev1.Pod) { p.Status = runningStatus() })
	b.Run("pod", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = translate.StatusToUpper(upper, lower)
		}
	})
	b.Run("status", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = translate.StatusOf(upper, lower)
		}
	})
}

// TestWaitingStatus: the container a kubelet is stuck on carries the reason (the first
// init container, or every container without init containers), the others
// PodInitializing; the phase is Pending and the conditions are kept.
func TestWaitingStatus(t *testing.T) {
	cond := []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}
	states := func(cs []corev1.ContainerStatus) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Name+":"+c.State.Waiting.Reason)
		}
		return out
	}
	for _, tc := range []struct {
		name            string
		init, main      []string
		wantInit, wantC []string
	}{
		{name: "no init containers", main: []string{"a", "b"}, wantC: []string{"a:R", "b:R"}},
		{name: "init containers", init: []string{"i1", "i2"}, main: []string{"a"},
			wantInit: []string{"i1:R", "i2:PodInitializing"}, wantC: []string{"a:PodInitializing"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed, Conditions: cond}}
			for _, n := range tc.init {
				pod.Spec.InitContainers = append(pod.Spec.InitContainers, corev1.Container{Name: n, Image: "img"})
			}
			for _, n := range tc.main {
				pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: n, Image: "img"})
			}
			st := translate.WaitingStatus(pod, "R", "msg")
			if st.Phase != corev1.PodPending || len(st.Conditions) != 1 {
				t.Errorf("phase %s, conditions %v; want Pending with the pod's conditions", st.Phase, st.Conditions)
			}
			if diff := cmp.Diff(tc.wantInit, states(st.InitContainerStatuses)); diff != "" {
				t.Errorf("init containers (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantC, states(st.ContainerStatuses)); diff != "" {
				t.Errorf("containers (-want +got):\n%s", diff)
			}
			st.Conditions[0].Status = corev1.ConditionFalse
			if pod.Status.Conditions[0].Status != corev1.ConditionTrue {
				t.Error("the result shares the pod's conditions")
			}
		})
	}
}
