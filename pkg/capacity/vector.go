// Package capacity models the free capacity of one lower cluster from informer events
// and answers, as kube-scheduler would on some lower node, whether a pod fits there.
//
// The Model is fed incrementally (node and pod add/update/delete); it yields the virtual
// node's aggregate capacity and a bounded Summary (nodes grouped by the labels and
// taints that matter, with their largest free slots). An Index built from a published
// summary answers the same fit question for the multi-scheduler, which never sees the
// lower cluster itself.
package capacity

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
)

// Vector is an amount of every resource kube-scheduler's NodeResourcesFit checks, in
// integers: CPU in millicores, everything else in base units. The first four resources
// are fields so that the common case allocates nothing.
type Vector struct {
	// MilliCPU is CPU in millicores.
	MilliCPU int64
	// Memory is in bytes.
	Memory int64
	// EphemeralStorage is in bytes.
	EphemeralStorage int64
	// Pods is a pod count.
	Pods int64
	// Scalars holds extended resources, hugepages and any other resource, by name.
	Scalars map[corev1.ResourceName]int64
}

// VectorFromList converts a ResourceList. CPU is rounded up to whole millicores, as the
// scheduler does.
func VectorFromList(rl corev1.ResourceList) Vector {
	var v Vector
	for name, q := range rl {
		switch name {
		case corev1.ResourceCPU:
			v.MilliCPU = q.MilliValue()
		case corev1.ResourceMemory:
			v.Memory = q.Value()
		case corev1.ResourceEphemeralStorage:
			v.EphemeralStorage = q.Value()
		case corev1.ResourcePods:
			v.Pods = q.Value()
		default:
			if v.Scalars == nil {
				v.Scalars = make(map[corev1.ResourceName]int64, 2)
			}
			v.Scalars[name] = q.Value()
		}
	}
	return v
}

// VectorFromAmounts converts the summary's integer map.
func VectorFromAmounts(a v1alpha1.ResourceAmounts) Vector {
	var v Vector
	for name, n := range a {
		v.set(name, n)
	}
	return v
}

// Get returns the amount of one resource.
func (v Vector) Get(name corev1.ResourceName) int64 {
	switch name {
	case corev1.ResourceCPU:
		return v.MilliCPU
	case corev1.ResourceMemory:
		return v.Memory
	case corev1.ResourceEphemeralStorage:
		return v.EphemeralStorage
	case corev1.ResourcePods:
		return v.Pods
	}
	return v.Scalars[name]
}

func (v *Vector) set(name corev1.ResourceName, n int64) {
	switch name {
	case corev1.ResourceCPU:
		v.MilliCPU = n
	case corev1.ResourceMemory:
		v.Memory = n
	case corev1.ResourceEphemeralStorage:
		v.EphemeralStorage = n
	case corev1.ResourcePods:
		v.Pods = n
	default:
		if v.Scalars == nil {
			v.Scalars = make(map[corev1.ResourceName]int64, 2)
		}
		v.Scalars[name] = n
	}
}

// Clone returns a copy that shares nothing with v.
func (v Vector) Clone() Vector {
	out := v
	if v.Scalars != nil {
		out.Scalars = make(map[corev1.ResourceName]int64, len(v.Scalars))
		for k, n := range v.Scalars {
			out.Scalars[k] = n
		}
	}
	return out
}

// Add adds o to v in place.
func (v *Vector) Add(o Vector) { v.addScaled(o, 1) }

// Sub subtracts o from v in place. Amounts may go negative (a node can be
// over-committed by pods that bypassed the scheduler).
func (v *Vector) Sub(o Vector) { v.addScaled(o, -1) }

func (v *Vector) addScaled(o Vector, sign int64) {
	v.MilliCPU += sign * o.MilliCPU
	v.Memory += sign * o.Memory
	v.EphemeralStorage += sign * o.EphemeralStorage
	v.Pods += sign * o.Pods
	for name, n := range o.Scalars {
		if v.Scalars == nil {
			v.Scalars = make(map[corev1.ResourceName]int64, len(o.Scalars))
		}
		v.Scalars[name] += sign * n
	}
}

// Names returns the resources v mentions (non-zero, or always the four fixed ones when
// all is true), sorted.
func (v Vector) Names(all bool) []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, 4+len(v.Scalars))
	for _, n := range fixedResources {
		if all || v.Get(n) != 0 {
			names = append(names, n)
		}
	}
	for n, a := range v.Scalars {
		if all || a != 0 {
			names = append(names, n)
		}
	}
	sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
	return names
}

var fixedResources = [...]corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage, corev1.ResourcePods}

// Insufficient returns the first resource (in a fixed order: cpu, memory,
// ephemeral-storage, pods, then scalars by name) for which req does not fit in free, or
// "" when it fits. As in NodeResourcesFit, a zero request never fails, and the pod
// count is always checked.
func (free Vector) Insufficient(req Vector) corev1.ResourceName {
	if req.MilliCPU > 0 && req.MilliCPU > free.MilliCPU {
		return corev1.ResourceCPU
	}
	if req.Memory > 0 && req.Memory > free.Memory {
		return corev1.ResourceMemory
	}
	if req.EphemeralStorage > 0 && req.EphemeralStorage > free.EphemeralStorage {
		return corev1.ResourceEphemeralStorage
	}
	if req.Pods > 0 && req.Pods > free.Pods {
		return corev1.ResourcePods
	}
	var worst corev1.ResourceName
	for name, n := range req.Scalars {
		if n > 0 && n > free.Scalars[name] && (worst == "" || name < worst) {
			worst = name
		}
	}
	return worst
}

// Fits reports whether req fits in free.
func (free Vector) Fits(req Vector) bool { return free.Insufficient(req) == "" }

// Amounts converts v to the summary's integer map, leaving out zero scalars.
func (v Vector) Amounts() v1alpha1.ResourceAmounts {
	out := make(v1alpha1.ResourceAmounts, 4+len(v.Scalars))
	out[corev1.ResourceCPU] = v.MilliCPU
	out[corev1.ResourceMemory] = v.Memory
	out[corev1.ResourceEphemeralStorage] = v.EphemeralStorage
	out[corev1.ResourcePods] = v.Pods
	for n, a := range v.Scalars {
		if a != 0 {
			out[n] = a
		}
	}
	return out
}

// List converts v to a ResourceList, flooring negative amounts at zero.
func (v Vector) List() corev1.ResourceList {
	out := make(corev1.ResourceList, 4+len(v.Scalars))
	for _, n := range v.Names(true) {
		a := max(v.Get(n), 0)
		switch n {
		case corev1.ResourceCPU:
			out[n] = *resource.NewMilliQuantity(a, resource.DecimalSI)
		case corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
			out[n] = *resource.NewQuantity(a, resource.BinarySI)
		default:
			out[n] = *resource.NewQuantity(a, resource.DecimalSI)
		}
	}
	return out
}

// floorAtZero returns v with every negative amount raised to zero.
func (v Vector) floorAtZero() Vector {
	out := Vector{MilliCPU: max(v.MilliCPU, 0), Memory: max(v.Memory, 0),
		EphemeralStorage: max(v.EphemeralStorage, 0), Pods: max(v.Pods, 0)}
	for n, a := range v.Scalars {
		if out.Scalars == nil {
			out.Scalars = make(map[corev1.ResourceName]int64, len(v.Scalars))
		}
		out.Scalars[n] = max(a, 0)
	}
	return out
}

// maxInPlace raises each amount of v to at least o's.
func (v *Vector) maxInPlace(o Vector) {
	v.MilliCPU = max(v.MilliCPU, o.MilliCPU)
	v.Memory = max(v.Memory, o.Memory)
	v.EphemeralStorage = max(v.EphemeralStorage, o.EphemeralStorage)
	v.Pods = max(v.Pods, o.Pods)
	for n, a := range o.Scalars {
		if v.Scalars == nil {
			v.Scalars = make(map[corev1.ResourceName]int64, len(o.Scalars))
		}
		if cur, ok := v.Scalars[n]; !ok || a > cur {
			v.Scalars[n] = a
		}
	}
}

// equal reports whether v and o hold the same amounts (a missing scalar is zero).
func (v Vector) equal(o Vector) bool {
	if v.MilliCPU != o.MilliCPU || v.Memory != o.Memory || v.EphemeralStorage != o.EphemeralStorage || v.Pods != o.Pods {
		return false
	}
	for name, n := range v.Scalars {
		if o.Scalars[name] != n {
			return false
		}
	}
	for name, n := range o.Scalars {
		if v.Scalars[name] != n {
			return false
		}
	}
	return true
}

// key returns a comparable identity of v, for grouping identical free vectors.
func (v Vector) key() vectorKey {
	k := vectorKey{v.MilliCPU, v.Memory, v.EphemeralStorage, v.Pods, ""}
	if len(v.Scalars) > 0 {
		var b strings.Builder
		for _, n := range v.Names(false) {
			if n == corev1.ResourceCPU || n == corev1.ResourceMemory || n == corev1.ResourceEphemeralStorage || n == corev1.ResourcePods {
				continue
			}
			fmt.Fprintf(&b, "%s=%d;", n, v.Scalars[n])
		}
		k.scalars = b.String()
	}
	return k
}

type vectorKey struct {
	cpu, mem, eph, pods int64
	scalars             string
}

// FormatAmount renders an amount of one resource for people: CPU as cores, memory
// and storage with binary suffixes, counts as plain numbers.
func FormatAmount(name corev1.ResourceName, n int64) string {
	switch name {
	case corev1.ResourceCPU:
		if n%1000 == 0 {
			return fmt.Sprintf("%d CPU", n/1000)
		}
		return fmt.Sprintf("%s CPU", resource.NewMilliQuantity(n, resource.DecimalSI).String())
	case corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
		return fmt.Sprintf("%s %s", resource.NewQuantity(n, resource.BinarySI).String(), name)
	case corev1.ResourcePods:
		return fmt.Sprintf("%d pod slots", n)
	}
	return fmt.Sprintf("%d %s", n, name)
}
