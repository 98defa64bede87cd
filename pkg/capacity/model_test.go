package capacity

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
)

func TestModelAggregate(t *testing.T) {
	n1 := makeNode("n1", "4", "8Gi")
	n2 := makeNode("n2", "4", "8Gi")
	tests := []struct {
		name         string
		events       []event
		wantAlloc    corev1.ResourceList
		wantEligible int
		wantNodes    int
		// wantRequestedCPU is the summary's requested CPU (all pods, ours too), in millicores.
		wantRequestedCPU int64
	}{
		{
			name:         "two ready nodes add up",
			events:       []event{addN(n1), addN(n2)},
			wantAlloc:    list("cpu", "8", "memory", "16Gi", "pods", "220", "ephemeral-storage", "0"),
			wantEligible: 2, wantNodes: 2,
		},
		{
			name:         "foreign pods are subtracted, own pods are not",
			events:       []event{addN(n1), addN(n2), addP(makePod("f", "n1", "1", "1Gi")), addP(makePod("o", "n2", "2", "2Gi", own()))},
			wantAlloc:    list("cpu", "7", "memory", "15Gi", "pods", "219", "ephemeral-storage", "0"),
			wantEligible: 2, wantNodes: 2, wantRequestedCPU: 3000,
		},
		{
			name:         "a pod turning Succeeded frees its requests",
			events:       []event{addN(n1), addN(n2), addP(makePod("f", "n1", "1", "1Gi")), addP(makePod("f", "n1", "1", "1Gi", phase(corev1.PodSucceeded)))},
			wantAlloc:    list("cpu", "8", "memory", "16Gi", "pods", "220", "ephemeral-storage", "0"),
			wantEligible: 2, wantNodes: 2,
		},
		{
			name:         "a Failed pod never counts",
			events:       []event{addN(n1), addP(makePod("f", "n1", "1", "1Gi", phase(corev1.PodFailed)))},
			wantAlloc:    list("cpu", "4", "memory", "8Gi", "pods", "110", "ephemeral-storage", "0"),
			wantEligible: 1, wantNodes: 1,
		},
		{
			name:         "a deleted pod frees its requests",
			events:       []event{addN(n1), addP(makePod("f", "n1", "1", "1Gi")), {deletePod: "f"}},
			wantAlloc:    list("cpu", "4", "memory", "8Gi", "pods", "110", "ephemeral-storage", "0"),
			wantEligible: 1, wantNodes: 1,
		},
		{
			name:         "an unbound pod holds nothing",
			events:       []event{addN(n1), addP(makePod("f", "", "1", "1Gi"))},
			wantAlloc:    list("cpu", "4", "memory", "8Gi", "pods", "110", "ephemeral-storage", "0"),
			wantEligible: 1, wantNodes: 1,
		},
		{
			name:         "a NotReady node drops out with its pods",
			events:       []event{addN(n1), addN(n2), addP(makePod("f", "n2", "1", "1Gi")), addN(makeNode("n2", "4", "8Gi", notReady()))},
			wantAlloc:    list("cpu", "4", "memory", "8Gi", "pods", "110", "ephemeral-storage", "0"),
			wantEligible: 1, wantNodes: 2,
		},
		{
			name:         "a cordoned node drops out",
			events:       []event{addN(n1), addN(n2), addN(makeNode("n2", "4", "8Gi", cordoned()))},
			wantAlloc:    list("cpu", "4", "memory", "8Gi", "pods", "110", "ephemeral-storage", "0"),
			wantEligible: 1, wantNodes: 2,
		},
		{
			name:         "a node that becomes Ready again comes back with its pods",
			events:       []event{addN(n1), addN(makeNode("n2", "4", "8Gi", notReady())), addP(makePod("f", "n2", "1", "1Gi")), addN(n2)},
			wantAlloc:    list("cpu", "7", "memory", "15Gi", "pods", "219", "ephemeral-storage", "0"),
			wantEligible: 2, wantNodes: 2, wantRequestedCPU: 1000,
		},
		{
			name:         "a deleted node drops out",
			events:       []event{addN(n1), addN(n2), addP(makePod("f", "n2", "1", "1Gi")), {deleteNode: "n2"}},
			wantAlloc:    list("cpu", "4", "memory", "8Gi", "pods", "110", "ephemeral-storage", "0"),
			wantEligible: 1, wantNodes: 1,
		},
		{
			name:         "a pod seen before its node is counted when the node arrives",
			events:       []event{addP(makePod("f", "n1", "1", "1Gi")), addN(n1)},
			wantAlloc:    list("cpu", "3", "memory", "7Gi", "pods", "109", "ephemeral-storage", "0"),
			wantEligible: 1, wantNodes: 1, wantRequestedCPU: 1000,
		},
		{
			name:         "allocatable updates are followed",
			events:       []event{addN(n1), addN(makeNode("n1", "16", "8Gi"))},
			wantAlloc:    list("cpu", "16", "memory", "8Gi", "pods", "110", "ephemeral-storage", "0"),
			wantEligible: 1, wantNodes: 1,
		},
		{
			name:         "requests are kube-scheduler's: the larger of init containers and the sum",
			events:       []event{addN(n1), addP(makePod("f", "n1", "1", "", withInit("3")))},
			wantAlloc:    list("cpu", "1", "memory", "8Gi", "pods", "109", "ephemeral-storage", "0"),
			wantEligible: 1, wantNodes: 1, wantRequestedCPU: 3000,
		},
		{
			name:         "extended resources are summed and subtracted",
			events:       []event{addN(makeNode("g", "4", "8Gi", withAlloc("nvidia.com/gpu", "4"))), addP(makePod("f", "g", "1", "", withRequest("nvidia.com/gpu", "1")))},
			wantAlloc:    list("cpu", "3", "memory", "8Gi", "pods", "109", "ephemeral-storage", "0", "nvidia.com/gpu", "3"),
			wantEligible: 1, wantNodes: 1, wantRequestedCPU: 1000,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := NewModel(Options{IsOwn: isOwnLabel})
			apply(m, tc.events...)
			got := m.Aggregate()
			if diff := cmp.Diff(VectorFromList(tc.wantAlloc), VectorFromList(got.Allocatable), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Aggregate().Allocatable (-want +got):\n%s", diff)
			}
			if got.EligibleNodes != tc.wantEligible || got.Nodes != tc.wantNodes {
				t.Errorf("nodes = %d eligible of %d, want %d of %d", got.EligibleNodes, got.Nodes, tc.wantEligible, tc.wantNodes)
			}
			if req := m.Summary().Totals.Requested[corev1.ResourceCPU]; req != tc.wantRequestedCPU {
				t.Errorf("summary requested cpu = %d, want %d", req, tc.wantRequestedCPU)
			}
		})
	}
}

func TestModelChangedSignal(t *testing.T) {
	m := NewModel(Options{})
	changed, other := m.Subscribe(), m.Subscribe()
	m.SetNode(makeNode("n1", "4", "8Gi"))
	<-other
	select {
	case <-changed:
	default:
		t.Fatal("no change signal after a node was added")
	}
	p := makePod("p", "n1", "1", "")
	p.Generation = 1
	m.SetPod(p)
	<-changed
	status := p.DeepCopy()
	status.Status.Message = "only status changed"
	m.SetPod(status)
	select {
	case <-changed:
		t.Fatal("a status-only pod update signalled a change")
	default:
	}
}
