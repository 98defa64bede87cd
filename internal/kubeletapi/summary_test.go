package kubeletapi

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	"k8s.io/utils/ptr"
)

// owned returns an owned pod: upper ns/name, lower lower-ns/lower-name on node.
func owned(name, node string) OwnedPod {
	lower := testPod("lower-ns", "lower-"+name, node)
	return OwnedPod{Upper: PodIdentity{Namespace: "ns", Name: name, UID: "upper-" + lower.UID}, Lower: lower}
}

func TestBuildSummary(t *testing.T) {
	t1 := metav1.NewTime(time.Date(2024, 1, 1, 0, 0, 1, 0, time.UTC))
	t2 := metav1.NewTime(time.Date(2024, 1, 1, 0, 0, 2, 0, time.UTC))
	boot1 := metav1.NewTime(time.Date(2023, 6, 1, 0, 0, 0, 0, time.UTC))
	boot2 := metav1.NewTime(time.Date(2023, 5, 1, 0, 0, 0, 0, time.UTC))
	p1, p2, p3 := owned("p1", "n1"), owned("p2", "n2"), owned("p3", "n3")
	p3.Lower.Status.StartTime = &t1
	p3.Lower.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c1", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: t2}}}}

	lowerRef := func(op OwnedPod) statsv1alpha1.PodReference {
		return statsv1alpha1.PodReference{Namespace: op.Lower.Namespace, Name: op.Lower.Name, UID: string(op.Lower.UID)}
	}
	cpu := func(at metav1.Time, nano uint64) *statsv1alpha1.CPUStats {
		return &statsv1alpha1.CPUStats{Time: at, UsageNanoCores: ptr.To(nano), UsageCoreNanoSeconds: ptr.To(nano * 10)}
	}
	mem := func(at metav1.Time, ws uint64) *statsv1alpha1.MemoryStats {
		return &statsv1alpha1.MemoryStats{Time: at, WorkingSetBytes: ptr.To(ws), AvailableBytes: ptr.To(ws * 2)}
	}
	summaries := map[string]*statsv1alpha1.Summary{
		"n1": {
			Node: statsv1alpha1.NodeStats{NodeName: "n1", StartTime: boot1, CPU: cpu(t1, 100), Memory: mem(t1, 1000),
				Fs: &statsv1alpha1.FsStats{Time: t1, CapacityBytes: ptr.To[uint64](10)}},
			Pods: []statsv1alpha1.PodStats{
				{PodRef: lowerRef(p1), StartTime: t1, CPU: cpu(t1, 7), Containers: []statsv1alpha1.ContainerStats{{Name: "c1", CPU: cpu(t1, 7)}}},
				{PodRef: statsv1alpha1.PodReference{Namespace: "other", Name: "foreign", UID: "x"}, CPU: cpu(t1, 99)},
			},
		},
		"n2": {
			Node: statsv1alpha1.NodeStats{NodeName: "n2", StartTime: boot2, CPU: cpu(t2, 200), Memory: mem(t2, 3000),
				Rlimit: &statsv1alpha1.RlimitStats{Time: t2, MaxPID: ptr.To[int64](4)}},
			Pods: []statsv1alpha1.PodStats{{
				PodRef: lowerRef(p2), StartTime: t2, Memory: mem(t2, 50),
				VolumeStats: []statsv1alpha1.VolumeStats{{Name: "data", PVCRef: &statsv1alpha1.PVCReference{Name: "claim", Namespace: "lower-ns"}}},
			}},
		},
		// n3 serves no stats (a KWOK node), "n4" is outside the selection.
		"n4": {Node: statsv1alpha1.NodeStats{NodeName: "n4", CPU: cpu(t2, 100000)}},
	}

	got := buildSummary("vnode", []string{"n1", "n2", "n3"}, []OwnedPod{p3, p2, p1}, summaries)

	want := &statsv1alpha1.Summary{
		Node: statsv1alpha1.NodeStats{
			NodeName:  "vnode",
			StartTime: boot2,
			CPU:       &statsv1alpha1.CPUStats{Time: t2, UsageNanoCores: ptr.To[uint64](300), UsageCoreNanoSeconds: ptr.To[uint64](3000)},
			Memory:    &statsv1alpha1.MemoryStats{Time: t2, WorkingSetBytes: ptr.To[uint64](4000), AvailableBytes: ptr.To[uint64](8000)},
			Fs:        &statsv1alpha1.FsStats{Time: t1, CapacityBytes: ptr.To[uint64](10)},
			Rlimit:    &statsv1alpha1.RlimitStats{Time: t2, MaxPID: ptr.To[int64](4)},
		},
		Pods: []statsv1alpha1.PodStats{
			{PodRef: upperRef(p1), StartTime: t1, CPU: cpu(t1, 7), Containers: []statsv1alpha1.ContainerStats{{Name: "c1", CPU: cpu(t1, 7)}}},
			{
				PodRef: upperRef(p2), StartTime: t2, Memory: mem(t2, 50),
				VolumeStats: []statsv1alpha1.VolumeStats{{Name: "data", PVCRef: &statsv1alpha1.PVCReference{Name: "claim", Namespace: "ns"}}},
			},
			{PodRef: upperRef(p3), StartTime: t1, Containers: []statsv1alpha1.ContainerStats{{Name: "c1", StartTime: t2}}},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("buildSummary (-want +got):\n%s", diff)
	}
	if summaries["n2"].Pods[0].VolumeStats[0].PVCRef.Namespace != "lower-ns" {
		t.Error("buildSummary changed its input")
	}
}

func TestBuildSummaryWithoutStats(t *testing.T) {
	p1 := owned("p1", "n1")
	got := buildSummary("vnode", []string{"n1"}, []OwnedPod{p1, {Upper: PodIdentity{Name: "unscheduled"}}}, nil)
	want := &statsv1alpha1.Summary{
		Node: statsv1alpha1.NodeStats{NodeName: "vnode"},
		Pods: []statsv1alpha1.PodStats{{PodRef: upperRef(p1), Containers: []statsv1alpha1.ContainerStats{{Name: "c1"}}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("buildSummary (-want +got):\n%s", diff)
	}
}

func TestScrapeNodes(t *testing.T) {
	got := scrapeNodes([]string{"b", "a"}, []OwnedPod{owned("p1", "c"), owned("p2", "a"), owned("p3", "")})
	if diff := cmp.Diff([]string{"a", "b", "c"}, got); diff != "" {
		t.Errorf("scrapeNodes (-want +got):\n%s", diff)
	}
}
