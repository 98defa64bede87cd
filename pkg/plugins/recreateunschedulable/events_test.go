package recreateunschedulable

import (
	"context"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/component-base/metrics/testutil"
	"k8s.io/klog/v2"
)

func TestClientEvents(t *testing.T) {
	client := fake.NewClientset()
	sink := NewClientEvents(client, klog.Background())
	pod := &v1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: "ns", Name: "p", UID: "u"}
	rec := &v1.ObjectReference{Kind: "PlacementExclusion", Namespace: "ns", Name: "r"}
	sink.Event(pod, rec, v1.EventTypeNormal, ReasonExcluded, strings.Repeat("x", 2000))
	sink.Event(pod, nil, v1.EventTypeWarning, ReasonCapReached, "capped")
	list, err := client.EventsV1().Events("ns").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 2 {
		t.Fatalf("%d events, want 2 with distinct names", len(list.Items))
	}
	for _, ev := range list.Items {
		if ev.Regarding.Name != "p" || ev.ReportingController == "" || ev.ReportingInstance == "" || ev.Action == "" ||
			ev.EventTime.IsZero() || len(ev.Note) > maxNoteLength {
			t.Errorf("incomplete event %+v", ev)
		}
	}
}

// TestActionsServed: the action counter is in the registry the descheduler serves
// without anything but the package being linked in.
func TestActionsServed(t *testing.T) {
	actions.Reset() // other tests count actions too
	countAction("recreated")
	want := `
# HELP tensile_descheduler_recreate_unschedulable_actions_total [ALPHA] Pods moved off virtual nodes by RecreateUnschedulable, by action (recreated, excluded, capped, failed).
# TYPE tensile_descheduler_recreate_unschedulable_actions_total counter
tensile_descheduler_recreate_unschedulable_actions_total{action="recreated"} 1
`
	if err := testutil.GatherAndCompare(legacyregistry.DefaultGatherer, strings.NewReader(want),
		"tensile_descheduler_recreate_unschedulable_actions_total"); err != nil {
		t.Error(err)
	}
}
