package kubeletapi

import (
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// buildSummary assembles the virtual node's /stats/summary from the lower nodes'
// summaries (keyed by lower node name; a node without one is missing). The node part is
// the sum of the selected lower nodes'; the pod part has one entry per owned pod, under its
// upper names, with the usage its lower node reported or, when that node reported
// nothing, without usage: absent is honest, zero would read as an idle pod.
func buildSummary(nodeName string, selected []string, owned []OwnedPod, summaries map[string]*statsv1alpha1.Summary) *statsv1alpha1.Summary {
	nodes := make([]statsv1alpha1.NodeStats, 0, len(selected))
	for _, name := range selected {
		if s := summaries[name]; s != nil {
			nodes = append(nodes, s.Node)
		}
	}
	byPod := map[podKey]*statsv1alpha1.PodStats{}
	for _, name := range sortedKeys(summaries) {
		s := summaries[name]
		if s == nil {
			continue
		}
		for i := range s.Pods {
			ref := s.Pods[i].PodRef
			byPod[podKey{ref.Namespace, ref.Name, ref.UID}] = &s.Pods[i]
		}
	}
	out := &statsv1alpha1.Summary{Node: sumNodeStats(nodeName, nodes), Pods: []statsv1alpha1.PodStats{}}
	for _, op := range owned {
		if op.Lower == nil {
			continue
		}
		lower := podKey{op.Lower.Namespace, op.Lower.Name, string(op.Lower.UID)}
		if ps, ok := byPod[lower]; ok {
			out.Pods = append(out.Pods, renamePodStats(*ps, op))
			continue
		}
		out.Pods = append(out.Pods, podStatsWithoutUsage(op))
	}
	sort.Slice(out.Pods, func(i, j int) bool {
		a, b := out.Pods[i].PodRef, out.Pods[j].PodRef
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return out
}

// podKey identifies a pod in a lower summary.
type podKey struct{ namespace, name, uid string }

// renamePodStats reports a lower pod's stats under its upper pod's reference. Volume
// claims live in the pod's namespace, so their namespace follows the pod's.
func renamePodStats(ps statsv1alpha1.PodStats, op OwnedPod) statsv1alpha1.PodStats {
	ps.PodRef = upperRef(op)
	if len(ps.VolumeStats) > 0 {
		vols := make([]statsv1alpha1.VolumeStats, len(ps.VolumeStats))
		for i, v := range ps.VolumeStats {
			if v.PVCRef != nil && v.PVCRef.Namespace == op.Lower.Namespace {
				v.PVCRef = &statsv1alpha1.PVCReference{Name: v.PVCRef.Name, Namespace: op.Upper.Namespace}
			}
			vols[i] = v
		}
		ps.VolumeStats = vols
	}
	return ps
}

// podStatsWithoutUsage describes an owned pod whose lower node reported no stats: its
// identity and start times, which the lower pod's status has, and no usage.
func podStatsWithoutUsage(op OwnedPod) statsv1alpha1.PodStats {
	ps := statsv1alpha1.PodStats{PodRef: upperRef(op), Containers: []statsv1alpha1.ContainerStats{}}
	if t := op.Lower.Status.StartTime; t != nil {
		ps.StartTime = *t
	}
	started := map[string]metav1.Time{}
	for _, cs := range op.Lower.Status.ContainerStatuses {
		if cs.State.Running != nil {
			started[cs.Name] = cs.State.Running.StartedAt
		}
	}
	for _, c := range op.Lower.Spec.Containers {
		ps.Containers = append(ps.Containers, statsv1alpha1.ContainerStats{Name: c.Name, StartTime: started[c.Name]})
	}
	return ps
}

// upperRef is the stats reference of an owned pod's upper pod.
func upperRef(op OwnedPod) statsv1alpha1.PodReference {
	return statsv1alpha1.PodReference{Namespace: op.Upper.Namespace, Name: op.Upper.Name, UID: string(op.Upper.UID)}
}

// sumNodeStats adds up the lower nodes' stats into the virtual node's. Each sum keeps
// the latest sample time of its parts, and the node started when the first one did.
// Per-interface network stats and system containers are node-local and are dropped.
func sumNodeStats(nodeName string, nodes []statsv1alpha1.NodeStats) statsv1alpha1.NodeStats {
	out := statsv1alpha1.NodeStats{NodeName: nodeName}
	for _, n := range nodes {
		if out.StartTime.IsZero() || (!n.StartTime.IsZero() && n.StartTime.Before(&out.StartTime)) {
			out.StartTime = n.StartTime
		}
		if n.CPU != nil {
			out.CPU = addCPU(out.CPU, n.CPU)
		}
		if n.Memory != nil {
			out.Memory = addMemory(out.Memory, n.Memory)
		}
		if n.Network != nil {
			out.Network = addNetwork(out.Network, n.Network)
		}
		if n.Fs != nil {
			out.Fs = addFs(out.Fs, n.Fs)
		}
		if n.Runtime != nil {
			if out.Runtime == nil {
				out.Runtime = &statsv1alpha1.RuntimeStats{}
			}
			out.Runtime.ImageFs = addFsIf(out.Runtime.ImageFs, n.Runtime.ImageFs)
			out.Runtime.ContainerFs = addFsIf(out.Runtime.ContainerFs, n.Runtime.ContainerFs)
		}
		if n.Rlimit != nil {
			out.Rlimit = addRlimit(out.Rlimit, n.Rlimit)
		}
		if n.Swap != nil {
			out.Swap = addSwap(out.Swap, n.Swap)
		}
	}
	return out
}

func addCPU(sum, s *statsv1alpha1.CPUStats) *statsv1alpha1.CPUStats {
	if sum == nil {
		sum = &statsv1alpha1.CPUStats{}
	}
	sum.Time = later(sum.Time, s.Time)
	sum.UsageNanoCores = addU64(sum.UsageNanoCores, s.UsageNanoCores)
	sum.UsageCoreNanoSeconds = addU64(sum.UsageCoreNanoSeconds, s.UsageCoreNanoSeconds)
	return sum
}

func addMemory(sum, s *statsv1alpha1.MemoryStats) *statsv1alpha1.MemoryStats {
	if sum == nil {
		sum = &statsv1alpha1.MemoryStats{}
	}
	sum.Time = later(sum.Time, s.Time)
	sum.AvailableBytes = addU64(sum.AvailableBytes, s.AvailableBytes)
	sum.UsageBytes = addU64(sum.UsageBytes, s.UsageBytes)
	sum.WorkingSetBytes = addU64(sum.WorkingSetBytes, s.WorkingSetBytes)
	sum.RSSBytes = addU64(sum.RSSBytes, s.RSSBytes)
	sum.PageFaults = addU64(sum.PageFaults, s.PageFaults)
	sum.MajorPageFaults = addU64(sum.MajorPageFaults, s.MajorPageFaults)
	return sum
}

func addNetwork(sum, s *statsv1alpha1.NetworkStats) *statsv1alpha1.NetworkStats {
	if sum == nil {
		sum = &statsv1alpha1.NetworkStats{}
	}
	sum.Time = later(sum.Time, s.Time)
	sum.RxBytes = addU64(sum.RxBytes, s.RxBytes)
	sum.RxErrors = addU64(sum.RxErrors, s.RxErrors)
	sum.TxBytes = addU64(sum.TxBytes, s.TxBytes)
	sum.TxErrors = addU64(sum.TxErrors, s.TxErrors)
	return sum
}

func addFsIf(sum, s *statsv1alpha1.FsStats) *statsv1alpha1.FsStats {
	if s == nil {
		return sum
	}
	return addFs(sum, s)
}

func addFs(sum, s *statsv1alpha1.FsStats) *statsv1alpha1.FsStats {
	if sum == nil {
		sum = &statsv1alpha1.FsStats{}
	}
	sum.Time = later(sum.Time, s.Time)
	sum.AvailableBytes = addU64(sum.AvailableBytes, s.AvailableBytes)
	sum.CapacityBytes = addU64(sum.CapacityBytes, s.CapacityBytes)
	sum.UsedBytes = addU64(sum.UsedBytes, s.UsedBytes)
	sum.InodesFree = addU64(sum.InodesFree, s.InodesFree)
	sum.Inodes = addU64(sum.Inodes, s.Inodes)
	sum.InodesUsed = addU64(sum.InodesUsed, s.InodesUsed)
	return sum
}

func addRlimit(sum, s *statsv1alpha1.RlimitStats) *statsv1alpha1.RlimitStats {
	if sum == nil {
		sum = &statsv1alpha1.RlimitStats{}
	}
	sum.Time = later(sum.Time, s.Time)
	sum.MaxPID = addI64(sum.MaxPID, s.MaxPID)
	sum.NumOfRunningProcesses = addI64(sum.NumOfRunningProcesses, s.NumOfRunningProcesses)
	return sum
}

func addSwap(sum, s *statsv1alpha1.SwapStats) *statsv1alpha1.SwapStats {
	if sum == nil {
		sum = &statsv1alpha1.SwapStats{}
	}
	sum.Time = later(sum.Time, s.Time)
	sum.SwapAvailableBytes = addU64(sum.SwapAvailableBytes, s.SwapAvailableBytes)
	sum.SwapUsageBytes = addU64(sum.SwapUsageBytes, s.SwapUsageBytes)
	return sum
}

// addU64 adds b to a, where nil means "not reported": the sum is reported as soon as
// one part is.
func addU64(a, b *uint64) *uint64 {
	switch {
	case b == nil:
		return a
	case a == nil:
		v := *b
		return &v
	}
	v := *a + *b
	return &v
}

// addI64 is addU64 for signed values.
func addI64(a, b *int64) *int64 {
	switch {
	case b == nil:
		return a
	case a == nil:
		v := *b
		return &v
	}
	v := *a + *b
	return &v
}

// later returns the later of two sample times.
func later(a, b metav1.Time) metav1.Time {
	if b.After(a.Time) {
		return b
	}
	return a
}

// sortedKeys returns m's keys in order, so sums and logs do not depend on map order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// scrapeNodes returns the lower nodes to scrape: the selected ones, whose sum is the
// virtual node's usage, and the nodes of owned pods, whose pods are reported.
func scrapeNodes(selected []string, owned []OwnedPod) []string {
	set := map[string]bool{}
	for _, n := range selected {
		set[n] = true
	}
	for _, op := range owned {
		if op.Lower != nil && op.Lower.Spec.NodeName != "" {
			set[op.Lower.Spec.NodeName] = true
		}
	}
	return sortedKeys(set)
}

// keepPods reduces a lower node's summary to what the virtual node may report: the
// node's own stats without its system containers, and the stats of the pods in keep.
func keepPods(s *statsv1alpha1.Summary, keep map[podKey]bool) *statsv1alpha1.Summary {
	s.Node.SystemContainers = nil
	var pods []statsv1alpha1.PodStats // usually few: sized by len(keep), 1,000 nodes cost 300 MB
	for _, ps := range s.Pods {
		if keep[podKey{ps.PodRef.Namespace, ps.PodRef.Name, ps.PodRef.UID}] {
			pods = append(pods, ps)
		}
	}
	s.Pods = pods
	return s
}
