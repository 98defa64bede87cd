package recreateunschedulable

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
	"github.com/tensile-kube/tensile/pkg/placement"
)

func TestWhy(t *testing.T) {
	s := selection{grace: 2 * time.Minute, maxPending: 15 * time.Minute}
	hourOld := func(p *v1.Pod) { p.CreationTimestamp = metav1.NewTime(now.Add(-time.Hour)) }
	for _, tc := range []struct {
		name       string
		sel        *selection // nil: s
		pod        *v1.Pod
		wantReason string // "": the pod stays
	}{
		{name: "unschedulable past grace", pod: stuckPod("p", "vk", 3*time.Minute), wantReason: EvictionReasonUnschedulable},
		{name: "unschedulable within grace, created long ago", pod: stuckPod("p", "vk", time.Minute, hourOld)},
		{name: "unschedulable past maxPending with a longer grace", sel: &selection{grace: 2 * time.Hour, maxPending: 15 * time.Minute},
			pod: stuckPod("p", "vk", 20*time.Minute), wantReason: EvictionReasonPending},
		{name: "gated below within maxPending", pod: stuckPod("p", "vk", 10*time.Minute, reason("SchedulingGated"))},
		{name: "gated below past maxPending", pod: stuckPod("p", "vk", 16*time.Minute, reason("SchedulingGated")), wantReason: EvictionReasonPending},
		{name: "scheduler error below past maxPending", pod: stuckPod("p", "vk", time.Hour, reason("SchedulerError")), wantReason: EvictionReasonPending},
		{name: "gated below, maxPending disabled", sel: &selection{grace: time.Minute},
			pod: stuckPod("p", "vk", 48*time.Hour, reason("SchedulingGated"))},
		{name: "placed below, init container running for an hour", pod: placedPod("p", "vk", time.Hour, initRunning)},
		{name: "placed below, pulling images for an hour", pod: placedPod("p", "vk", time.Hour, pulling)},
		{name: "placed below, not started (no kubelet answers)", pod: placedPod("p", "vk", time.Hour)},
		{name: "not mirrored yet: the upper scheduler's PodScheduled=True", pod: placedPod("p", "vk", time.Hour, func(p *v1.Pod) {
			p.Status.HostIP, p.Status.StartTime = "", nil
		})},
		{name: "not mirrored yet: no condition at all", pod: stuckPod("p", "vk", 0, hourOld, func(p *v1.Pod) { p.Status.Conditions = nil })},
		{name: "placed, then unschedulable again: counts from the last transition only", pod: stuckPod("p", "vk", time.Minute, hourOld)},
		{name: "condition without a transition time", pod: stuckPod("p", "vk", time.Hour, func(p *v1.Pod) {
			p.Status.Conditions[0].LastTransitionTime = metav1.Time{}
		})},
		{name: "transition time in the future (clock skew)", pod: stuckPod("p", "vk", -time.Hour)},
		{name: "other conditions do not count", pod: stuckPod("p", "vk", time.Hour, func(p *v1.Pod) {
			p.Status.Conditions[0].Type = v1.PodReadyToStartContainers
		})},
		{name: "terminating", pod: stuckPod("p", "vk", time.Hour, func(p *v1.Pod) { p.DeletionTimestamp = ptr.To(metav1.NewTime(now)) })},
		{name: "running", pod: stuckPod("p", "vk", time.Hour, func(p *v1.Pod) { p.Status.Phase = v1.PodRunning })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sel := s
			if tc.sel != nil {
				sel = *tc.sel
			}
			reason, detail, ok := sel.why(tc.pod, now)
			if reason != tc.wantReason || ok != (tc.wantReason != "") || ok == (detail == "") || strings.ContainsAny(reason, " :") {
				t.Errorf("why = %q, %q, %v; want reason %q", reason, detail, ok, tc.wantReason)
			}
		})
	}
}

func TestReplacement(t *testing.T) {
	ttl := time.Hour
	zone := v1.NodeSelectorRequirement{Key: "zone", Operator: v1.NodeSelectorOpIn, Values: []string{"z"}}
	notIn := func(nodes ...string) v1.NodeSelectorRequirement {
		return v1.NodeSelectorRequirement{Key: v1.LabelHostname, Operator: v1.NodeSelectorOpNotIn, Values: nodes}
	}
	aff := func(exprs ...v1.NodeSelectorRequirement) *v1.Affinity {
		return &v1.Affinity{NodeAffinity: &v1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{
			NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchExpressions: exprs}},
		}}}
	}
	for _, tc := range []struct {
		name     string
		pod      *v1.Pod
		lin      placement.Lineage
		wantName string
		wantAff  *v1.Affinity
		wantLin  placement.Lineage
	}{
		{name: "first re-creation",
			pod: stuckPod("solo", "vk-a", time.Hour, func(p *v1.Pod) {
				p.Spec.Affinity = aff(zone)
				p.Spec.Priority = ptr.To[int32](7)
				p.Spec.EphemeralContainers = []v1.EphemeralContainer{{}}
			}),
			lin:      placement.Lineage{Original: "solo"},
			wantName: "solo-r1", wantAff: aff(zone, notIn("vk-a")),
			wantLin: placement.Lineage{Original: "solo", Recreations: 1, Exclusions: []v1alpha1.NodeExclusion{until("vk-a", ttl)}}},
		{name: "second re-creation drops expired exclusions and keeps active ones",
			pod: stuckPod("solo-r1", "vk-b", time.Hour, func(p *v1.Pod) {
				p.Spec.Affinity = aff(zone, notIn("user", "vk-a", "vk-c"))
			}),
			lin:      placement.Lineage{Original: "solo", Recreations: 1, Exclusions: []v1alpha1.NodeExclusion{until("vk-a", -time.Minute), until("vk-c", time.Minute)}},
			wantName: "solo-r2", wantAff: aff(zone, notIn("user", "vk-b", "vk-c")),
			wantLin: placement.Lineage{Original: "solo", Recreations: 2, Exclusions: []v1alpha1.NodeExclusion{until("vk-b", ttl), until("vk-c", time.Minute)}}},
		{name: "an expired node stuck again is excluded again",
			pod:      stuckPod("solo-r1", "vk-a", time.Hour, func(p *v1.Pod) { p.Spec.Affinity = aff(notIn("vk-a")) }),
			lin:      placement.Lineage{Original: "solo", Recreations: 1, Exclusions: []v1alpha1.NodeExclusion{until("vk-a", -time.Minute)}},
			wantName: "solo-r2", wantAff: aff(notIn("vk-a")),
			wantLin: placement.Lineage{Original: "solo", Recreations: 2, Exclusions: []v1alpha1.NodeExclusion{until("vk-a", ttl)}}},
		{name: "the name comes from the lineage, not the pod's annotations, which are dropped",
			pod: stuckPod("solo-r1", "vk-a", time.Hour, annotated(OriginalNameAnnotation, "victim"),
				annotated(placement.RecreationsAnnotation, "0"), annotated(placement.ExclusionsAnnotation, "[]"), annotated("keep", "me")),
			lin:      placement.Lineage{Original: "solo", Recreations: 1},
			wantName: "solo-r2", wantAff: aff(notIn("vk-a")),
			wantLin: placement.Lineage{Original: "solo", Recreations: 2, Exclusions: []v1alpha1.NodeExclusion{until("vk-a", ttl)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.pod.DeepCopy()
			got, next := replacement(tc.pod, tc.lin, tc.pod.Spec.NodeName, now, ttl)
			if diff := cmp.Diff(before, tc.pod); diff != "" {
				t.Errorf("input modified:\n%s", diff)
			}
			if got.Name != tc.wantName || got.UID != "" || got.Spec.NodeName != "" || got.Spec.Priority != nil ||
				got.Spec.EphemeralContainers != nil || got.Status.Phase != "" {
				t.Errorf("replacement not reset: %+v", got)
			}
			if diff := cmp.Diff(tc.wantAff, got.Spec.Affinity); diff != "" {
				t.Errorf("affinity (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantLin, next); diff != "" {
				t.Errorf("lineage (-want +got):\n%s", diff)
			}
			for k, v := range got.Annotations {
				if slices.Contains(lineageAnnotations, k) || (k == "keep") != (v == "me") {
					t.Errorf("replacement annotation %s=%q", k, v)
				}
			}
		})
	}
}

func TestLegacyLineage(t *testing.T) {
	for _, tc := range []struct {
		name        string
		pod         *v1.Pod
		want        placement.Lineage
		wantIgnored string
	}{
		{name: "first pod", pod: stuckPod("solo", "vk-a", 0), want: placement.Lineage{Original: "solo"}},
		{name: "in-flight replacement, consistent", pod: stuckPod("solo-r2", "vk-a", 0,
			annotated(OriginalNameAnnotation, "solo"), annotated(placement.RecreationsAnnotation, "2")),
			want: placement.Lineage{Original: "solo", Recreations: 2}},
		{name: "original naming another pod", pod: stuckPod("mine", "vk-a", 0,
			annotated(OriginalNameAnnotation, "victim"), annotated(placement.RecreationsAnnotation, "1")),
			want: placement.Lineage{Original: "mine", Recreations: 1}, wantIgnored: "victim"},
		{name: "count reset: the name no longer matches", pod: stuckPod("solo-r2", "vk-a", 0,
			annotated(OriginalNameAnnotation, "solo"), annotated(placement.RecreationsAnnotation, "0")),
			want: placement.Lineage{Original: "solo-r2"}, wantIgnored: "solo"},
		{name: "empty original", pod: stuckPod("solo-r1", "vk-a", 0,
			annotated(OriginalNameAnnotation, ""), annotated(placement.RecreationsAnnotation, "1")),
			want: placement.Lineage{Original: "solo-r1", Recreations: 1}, wantIgnored: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ignored, err := legacyLineage(tc.pod)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" || ignored != tc.wantIgnored {
				t.Errorf("lineage (-want +got):\n%s ignored %q, want %q", diff, ignored, tc.wantIgnored)
			}
		})
	}
	if _, _, err := legacyLineage(stuckPod("p", "vk-a", 0, annotated(placement.ExclusionsAnnotation, "{"))); err == nil {
		t.Error("malformed exclusions accepted")
	}
}

func TestReplacementName(t *testing.T) {
	if got := replacementName("web", 2); got != "web-r2" {
		t.Errorf("got %q", got)
	}
	long := strings.Repeat("a", 260)
	got := replacementName(long, 12)
	if len(got) > maxPodNameLength || !strings.HasSuffix(got, "-r12") {
		t.Errorf("long name %q (%d)", got, len(got))
	}
	if got == replacementName(long+"b", 12) {
		t.Error("distinct long names collide")
	}
}
