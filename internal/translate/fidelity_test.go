package translate_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/tensile-kube/tensile/internal/translate"
)

var t2 = metav1.NewTime(t1.Add(time.Minute))

func cpu(q string) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(q)}}
}

func cond(t corev1.PodConditionType, s corev1.ConditionStatus, at metav1.Time, og int64) corev1.PodCondition {
	return corev1.PodCondition{Type: t, Status: s, LastTransitionTime: at, ObservedGeneration: og}
}

// fullUpper is an upper pod at generation 5 whose status carries every field the
// upper control plane owns, and stale copies of what comes from below.
func fullUpper(mods ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "app", UID: "uid-1", Generation: 5},
		Spec: corev1.PodSpec{
			NodeName:            "vk-node",
			Containers:          []corev1.Container{{Name: "main", Image: "nginx:2", Resources: cpu("200m")}},
			InitContainers:      []corev1.Container{{Name: "sidecar", Image: "envoy:1", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}},
			EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "dbg", Image: "busybox"}, TargetContainerName: "main"}},
		},
		Status: corev1.PodStatus{
			ObservedGeneration: 4,
			Phase:              corev1.PodPending,
			QOSClass:           corev1.PodQOSBurstable,
			NominatedNodeName:  "vk-node",
			Conditions: []corev1.PodCondition{
				cond(corev1.PodScheduled, corev1.ConditionTrue, t0, 0),
				cond(corev1.PodReady, corev1.ConditionFalse, t0, 4),
				cond("example.com/owned-above", corev1.ConditionTrue, t0, 0),
				{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "PreemptionByScheduler", LastTransitionTime: t0},
			},
			ResourceClaimStatuses: []corev1.PodResourceClaimStatus{{Name: "gpu", ResourceClaimName: ptr.To("web-gpu")}},
			HostIP:                "10.9.9.9",
		},
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

// fullLower is its lower pod at generation 2, observed, running every kind of container.
func fullLower(mods ...func(*corev1.Pod)) *corev1.Pod {
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: t1}}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "app-lower", UID: "lower-uid", Generation: 2},
		Spec: corev1.PodSpec{
			NodeName:            "worker-3",
			Containers:          []corev1.Container{{Name: "main", Image: "nginx:2", Resources: cpu("200m")}},
			InitContainers:      []corev1.Container{{Name: "sidecar", Image: "envoy:1", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}},
			EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "dbg", Image: "busybox"}, TargetContainerName: "main"}},
		},
		Status: corev1.PodStatus{
			ObservedGeneration: 2,
			Phase:              corev1.PodRunning,
			QOSClass:           corev1.PodQOSBestEffort,
			NominatedNodeName:  "worker-9",
			Message:            "lower message",
			Reason:             "LowerReason",
			Conditions: []corev1.PodCondition{
				cond(corev1.PodReadyToStartContainers, corev1.ConditionTrue, t1, 2),
				cond(corev1.PodInitialized, corev1.ConditionTrue, t1, 2),
				cond(corev1.PodReady, corev1.ConditionTrue, t1, 2),
				cond(corev1.ContainersReady, corev1.ConditionTrue, t1, 2),
				cond(corev1.PodScheduled, corev1.ConditionTrue, t1, 1),
				cond("example.com/lower-gate", corev1.ConditionTrue, t1, 0),
			},
			HostIP:    "192.168.1.3",
			HostIPs:   []corev1.HostIP{{IP: "192.168.1.3"}, {IP: "fd00::3"}},
			PodIP:     "10.244.3.7",
			PodIPs:    []corev1.PodIP{{IP: "10.244.3.7"}},
			StartTime: &t1,
			ContainerStatuses: []corev1.ContainerStatus{{Name: "main", Image: "nginx:2", Ready: true, State: running,
				AllocatedResources: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m")}, Resources: ptr.To(cpu("200m"))}},
			InitContainerStatuses:      []corev1.ContainerStatus{{Name: "sidecar", Image: "envoy:1", Ready: true, Started: ptr.To(true), State: running}},
			EphemeralContainerStatuses: []corev1.ContainerStatus{{Name: "dbg", Image: "busybox", State: running}},
			ResourceClaimStatuses:      []corev1.PodResourceClaimStatus{{Name: "gpu", ResourceClaimName: ptr.To("lower-claim")}},
		},
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

// fullWant is the status StatusOf gives for fullUpper and fullLower: field by field as
// docs/virtual-node.md ("Pod status, field by field") says.
func fullWant(mods ...func(*corev1.PodStatus)) corev1.PodStatus {
	l := fullLower().Status
	st := corev1.PodStatus{
		ObservedGeneration:         5,                                        // computed: the lower pod observed the upper spec
		Phase:                      l.Phase,                                  // below
		Message:                    l.Message,                                // below
		Reason:                     l.Reason,                                 // below
		QOSClass:                   corev1.PodQOSBurstable,                   // above (the lower one only fills a gap)
		NominatedNodeName:          "vk-node",                                // above: the upper scheduler's
		HostIP:                     l.HostIP,                                 // below: the lower node's
		HostIPs:                    l.HostIPs,                                // below
		PodIP:                      l.PodIP,                                  // below
		PodIPs:                     l.PodIPs,                                 // below
		StartTime:                  l.StartTime,                              // below
		ContainerStatuses:          l.ContainerStatuses,                      // below, with allocated resources
		InitContainerStatuses:      l.InitContainerStatuses,                  // below, sidecars included
		EphemeralContainerStatuses: l.EphemeralContainerStatuses,             // below
		ResourceClaimStatuses:      fullUpper().Status.ResourceClaimStatuses, // above
		Conditions: []corev1.PodCondition{
			cond(corev1.PodScheduled, corev1.ConditionTrue, t1, 0), // below once the lower scheduler has one
			cond(corev1.PodReady, corev1.ConditionTrue, t1, 5),     // kubelet's: below, generation mapped
			cond("example.com/owned-above", corev1.ConditionTrue, t0, 0),
			{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "PreemptionByScheduler", LastTransitionTime: t0},
			cond(corev1.PodReadyToStartContainers, corev1.ConditionTrue, t1, 5),
			cond(corev1.PodInitialized, corev1.ConditionTrue, t1, 5),
			cond(corev1.ContainersReady, corev1.ConditionTrue, t1, 5),
		},
	}
	for _, m := range mods {
		m(&st)
	}
	return st
}

// TestStatusFields: StatusOf over a full PodStatus, field by field.
func TestStatusFields(t *testing.T) {
	for _, tc := range []struct {
		name         string
		upper, lower *corev1.Pod
		want         corev1.PodStatus
	}{
		{name: "every field from where it belongs", upper: fullUpper(), lower: fullLower(), want: fullWant()},
		{
			name:  "lower pod not observed yet: observedGeneration and the conditions' stay",
			upper: fullUpper(),
			lower: fullLower(func(p *corev1.Pod) { p.Generation = 3 }),
			want: fullWant(func(st *corev1.PodStatus) {
				st.ObservedGeneration = 4
				st.Conditions[1].ObservedGeneration = 4
				for i := 4; i < 7; i++ {
					st.Conditions[i].ObservedGeneration = 0
				}
			}),
		},
		{
			name:  "a resize not applied below: observedGeneration stays",
			upper: fullUpper(func(p *corev1.Pod) { p.Spec.Containers[0].Resources = cpu("300m") }),
			lower: fullLower(),
			want: fullWant(func(st *corev1.PodStatus) {
				st.ObservedGeneration = 4
				st.Conditions[1].ObservedGeneration = 4
				for i := 4; i < 7; i++ {
					st.Conditions[i].ObservedGeneration = 0
				}
			}),
		},
		{
			name:  "an ephemeral container not added below: observedGeneration stays",
			upper: fullUpper(),
			lower: fullLower(func(p *corev1.Pod) { p.Spec.EphemeralContainers = nil; p.Status.EphemeralContainerStatuses = nil }),
			want: fullWant(func(st *corev1.PodStatus) {
				st.ObservedGeneration = 4
				st.EphemeralContainerStatuses = nil
				st.Conditions[1].ObservedGeneration = 4
				for i := 4; i < 7; i++ {
					st.Conditions[i].ObservedGeneration = 0
				}
			}),
		},
		{
			name:  "a lower kubelet that does not report observedGeneration: applied counts as observed",
			upper: fullUpper(),
			lower: fullLower(func(p *corev1.Pod) {
				p.Status.ObservedGeneration = 0
				for i := range p.Status.Conditions {
					p.Status.Conditions[i].ObservedGeneration = 0
				}
			}),
			want: fullWant(func(st *corev1.PodStatus) {
				for i := range st.Conditions {
					st.Conditions[i].ObservedGeneration = 0
				}
			}),
		},
		{
			name:  "a resize refused below: PodResizePending=True/Infeasible with the lower message",
			upper: fullUpper(func(p *corev1.Pod) { p.Spec.Containers[0].Resources = cpu("6") }),
			lower: fullLower(func(p *corev1.Pod) {
				p.Annotations = map[string]string{translate.AnnotationResizeRefused: translate.ResizeRefusal{At: t2, Message: "no room"}.Encode()}
			}),
			want: fullWant(func(st *corev1.PodStatus) {
				st.ObservedGeneration = 4
				st.Conditions[1].ObservedGeneration = 4
				for i := 4; i < 7; i++ {
					st.Conditions[i].ObservedGeneration = 0
				}
				st.Conditions = append(st.Conditions, corev1.PodCondition{Type: corev1.PodResizePending, Status: corev1.ConditionTrue,
					Reason: corev1.PodReasonInfeasible, Message: "no room", LastTransitionTime: t2, ObservedGeneration: 5})
			}),
		},
		{
			name:  "a refusal record after the upper went back to the lower resources: no condition",
			upper: fullUpper(),
			lower: fullLower(func(p *corev1.Pod) {
				p.Annotations = map[string]string{translate.AnnotationResizeRefused: translate.ResizeRefusal{At: t2, Message: "no room"}.Encode()}
			}),
			want: fullWant(),
		},
		{
			name:  "resize in progress below: the kubelet's resize conditions come up",
			upper: fullUpper(),
			lower: fullLower(func(p *corev1.Pod) {
				p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodResizeInProgress, Status: corev1.ConditionTrue, LastTransitionTime: t2, ObservedGeneration: 2})
			}),
			want: fullWant(func(st *corev1.PodStatus) {
				st.Conditions = append(st.Conditions, corev1.PodCondition{Type: corev1.PodResizeInProgress, Status: corev1.ConditionTrue, LastTransitionTime: t2, ObservedGeneration: 5})
			}),
		},
		{
			name:  "the kubelet's conditions the lower pod lacks are dropped; PodScheduled above kept while the lower has none",
			upper: fullUpper(),
			lower: fullLower(func(p *corev1.Pod) { p.Status.Conditions = nil }),
			want: fullWant(func(st *corev1.PodStatus) {
				st.Conditions = []corev1.PodCondition{
					cond(corev1.PodScheduled, corev1.ConditionTrue, t0, 0),
					cond("example.com/owned-above", corev1.ConditionTrue, t0, 0),
					{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "PreemptionByScheduler", LastTransitionTime: t0},
				}
			}),
		},
		{
			name:  "a lower DisruptionTarget fills the gap above",
			upper: fullUpper(func(p *corev1.Pod) { p.Status.Conditions = p.Status.Conditions[:3] }),
			lower: fullLower(func(p *corev1.Pod) {
				p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "EvictionByEvictionAPI", LastTransitionTime: t2})
			}),
			want: fullWant(func(st *corev1.PodStatus) {
				st.Conditions = append(st.Conditions[:3], st.Conditions[4:]...)
				st.Conditions = append(st.Conditions, corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "EvictionByEvictionAPI", LastTransitionTime: t2})
			}),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			upperBefore, lowerBefore := tc.upper.DeepCopy(), tc.lower.DeepCopy()
			got := translate.StatusOf(tc.upper, tc.lower)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(upperBefore, tc.upper); diff != "" {
				t.Errorf("upper modified:\n%s", diff)
			}
			if diff := cmp.Diff(lowerBefore, tc.lower); diff != "" {
				t.Errorf("lower modified:\n%s", diff)
			}
		})
	}
}

// TestReadinessGates: with readiness gates, Ready is the lower ContainersReady and every
// gate condition of the upper pod, as a kubelet computes it; the lower Ready (KWOK and
// lower controllers may set lower gates) does not count.
func TestReadinessGates(t *testing.T) {
	const gate = "example.com/lb"
	gated := func(gateCond *corev1.PodCondition, mods ...func(*corev1.Pod)) *corev1.Pod {
		return fullUpper(append([]func(*corev1.Pod){func(p *corev1.Pod) {
			p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: gate}}
			p.Status.Conditions = p.Status.Conditions[:1]
			if gateCond != nil {
				p.Status.Conditions = append(p.Status.Conditions, *gateCond)
			}
		}}, mods...)...)
	}
	for _, tc := range []struct {
		name  string
		upper *corev1.Pod
		lower *corev1.Pod
		want  corev1.PodCondition
	}{
		{
			name:  "gate condition missing",
			upper: gated(nil), lower: fullLower(),
			want: corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: translate.ReasonReadinessGatesNotReady,
				Message: `corresponding condition of pod readiness gate "example.com/lb" does not exist.`, LastTransitionTime: t1, ObservedGeneration: 5},
		},
		{
			name:  "gate False",
			upper: gated(ptr.To(cond(gate, corev1.ConditionFalse, t0, 0))), lower: fullLower(),
			want: corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: translate.ReasonReadinessGatesNotReady,
				Message: `the status of pod readiness gate "example.com/lb" is not "True", but False`, LastTransitionTime: t1, ObservedGeneration: 5},
		},
		{
			name:  "gate True after the containers: Ready since the gate",
			upper: gated(ptr.To(cond(gate, corev1.ConditionTrue, t2, 0))), lower: fullLower(),
			want: corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: t2, ObservedGeneration: 5},
		},
		{
			name:  "gate True, containers not ready below",
			upper: gated(ptr.To(cond(gate, corev1.ConditionTrue, t0, 0))),
			lower: fullLower(func(p *corev1.Pod) {
				p.Status.Conditions[3] = corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady", Message: "containers with unready status: [main]", LastTransitionTime: t2}
			}),
			want: corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady",
				Message: "containers with unready status: [main]", LastTransitionTime: t2, ObservedGeneration: 5},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := translate.StatusOf(tc.upper, tc.lower)
			var got corev1.PodCondition
			for _, c := range st.Conditions {
				if c.Type == corev1.PodReady {
					got = c
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Ready (-want +got):\n%s", diff)
			}
			if _, ok := findCond(st.Conditions, gate); ok != (len(tc.upper.Status.Conditions) > 1) {
				t.Errorf("gate condition kept = %v, want %v", ok, len(tc.upper.Status.Conditions) > 1)
			}
			// Idempotent: once written, the same status comes out (no write per re-check).
			again := tc.upper.DeepCopy()
			again.Status = st
			if diff := cmp.Diff(st, translate.StatusOf(again, tc.lower)); diff != "" {
				t.Errorf("not stable once written (-first +second):\n%s", diff)
			}
		})
	}
}

func findCond(conds []corev1.PodCondition, t corev1.PodConditionType) (corev1.PodCondition, bool) {
	for _, c := range conds {
		if c.Type == t {
			return c, true
		}
	}
	return corev1.PodCondition{}, false
}

// TestMissingEphemeralContainers: only containers the lower pod lacks are added, without
// mounts of volumes the lower pod does not have (the dropped upper token volume).
func TestMissingEphemeralContainers(t *testing.T) {
	eph := func(name string, mounts ...string) corev1.EphemeralContainer {
		e := corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: name, Image: "busybox"}, TargetContainerName: "main"}
		for _, m := range mounts {
			e.VolumeMounts = append(e.VolumeMounts, corev1.VolumeMount{Name: m, MountPath: "/" + m})
		}
		return e
	}
	upper := fullUpper(func(p *corev1.Pod) {
		p.Spec.EphemeralContainers = []corev1.EphemeralContainer{eph("old"), eph("new", "data", "kube-api-access-x"), eph("bare", "kube-api-access-x")}
	})
	lower := fullLower(func(p *corev1.Pod) {
		p.Spec.EphemeralContainers = []corev1.EphemeralContainer{eph("old")}
		p.Spec.Volumes = []corev1.Volume{{Name: "data"}}
	})
	before := upper.DeepCopy()
	got := translate.MissingEphemeralContainers(upper, lower)
	if diff := cmp.Diff([]corev1.EphemeralContainer{eph("new", "data"), eph("bare")}, got); diff != "" {
		t.Errorf("missing (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, upper); diff != "" {
		t.Errorf("upper modified:\n%s", diff)
	}
	if got := translate.MissingEphemeralContainers(upper, upper); got != nil {
		t.Errorf("nothing missing: got %v", got)
	}
}

// TestResizeLower: the upper resources of containers and sidecars go to the lower pod by
// container name; nothing else changes.
func TestResizeLower(t *testing.T) {
	upper := fullUpper(func(p *corev1.Pod) {
		p.Spec.Containers[0].Resources = cpu("1")
		p.Spec.InitContainers[0].Resources = cpu("50m")
	})
	lower := fullLower()
	if !translate.ResizeWanted(upper, lower) {
		t.Fatal("ResizeWanted = false, want true")
	}
	want := fullLower(func(p *corev1.Pod) {
		p.Spec.Containers[0].Resources = cpu("1")
		p.Spec.InitContainers[0].Resources = cpu("50m")
	})
	if !translate.ResizeLower(lower, upper) {
		t.Fatal("ResizeLower = false, want true")
	}
	if diff := cmp.Diff(want, lower); diff != "" {
		t.Errorf("lower (-want +got):\n%s", diff)
	}
	if translate.ResizeLower(lower, upper) || translate.ResizeWanted(upper, lower) {
		t.Error("a second resize changed something")
	}
}
