package lowerfit

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
	"github.com/tensile-kube/tensile/pkg/capacity"
)

func summaryObject(t *testing.T, name, hash string, updated time.Time) *unstructured.Unstructured {
	t.Helper()
	cs := &v1alpha1.ClusterSummary{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.SchemeGroupVersion.String(), Kind: v1alpha1.ClusterSummaryKind},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status:     v1alpha1.ClusterSummaryStatus{VirtualNode: name, ContentHash: hash, UpdateTime: metav1.NewMicroTime(updated)},
	}
	raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(cs)
	if err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: raw}
}

func TestEventsToRegister(t *testing.T) {
	pl, _ := newTestPlugin(t)
	evs, err := pl.EventsToRegister(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := string(evs[0].Event.Resource); got != "clustersummaries.v1alpha1.tensile.dev" {
		t.Errorf("custom resource event = %q", got)
	}
}

func TestQueueingHints(t *testing.T) {
	pl, clock := newTestPlugin(t)
	clock.Set(t0.Add(5 * time.Second))
	logger := klog.Background()
	pod := upperPod("p", "6")
	vnode := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "vk-a", Labels: map[string]string{"type": "virtual-kubelet"}}}
	worker := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "worker"}}
	tests := []struct {
		name string
		hint func() (fwk.QueueingHint, error)
		want fwk.QueueingHint
	}{
		{name: "new summary", want: fwk.Queue, hint: func() (fwk.QueueingHint, error) {
			return pl.hintSummary(logger, pod, nil, summaryObject(t, "vk-a", "h1", t0))
		}},
		{name: "changed summary", want: fwk.Queue, hint: func() (fwk.QueueingHint, error) {
			return pl.hintSummary(logger, pod, summaryObject(t, "vk-a", "h1", t0), summaryObject(t, "vk-a", "h2", t0.Add(time.Second)))
		}},
		{name: "heartbeat of a fresh summary", want: fwk.QueueSkip, hint: func() (fwk.QueueingHint, error) {
			return pl.hintSummary(logger, pod, summaryObject(t, "vk-a", "h1", t0), summaryObject(t, "vk-a", "h1", t0.Add(time.Second)))
		}},
		{name: "heartbeat reviving a stale summary", want: fwk.Queue, hint: func() (fwk.QueueingHint, error) {
			return pl.hintSummary(logger, pod, summaryObject(t, "vk-a", "h1", t0.Add(-time.Minute)), summaryObject(t, "vk-a", "h1", t0))
		}},
		{name: "virtual node added", want: fwk.Queue, hint: func() (fwk.QueueingHint, error) {
			return pl.hintNode(logger, pod, nil, vnode)
		}},
		{name: "ordinary node added", want: fwk.QueueSkip, hint: func() (fwk.QueueingHint, error) {
			return pl.hintNode(logger, pod, nil, worker)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.hint()
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("hint = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestIndexFromObjectRoundTrip(t *testing.T) {
	obj := summaryObject(t, "vk-a", "h1", t0)
	ix, err := indexFromObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	if ix.VirtualNode != "vk-a" || !ix.UpdateTime.Equal(t0) || ix.ContentHash != "h1" {
		t.Errorf("index = %+v", ix)
	}
}

// TestHintCatchesUp: the scheduler's informer, which delivers the event that requeues a
// pod, is not the plugin's. The hint brings the plugin's view up to the summary it was
// called with, so the retry sees it; an older copy never takes the view back, and a
// late copy of a deleted summary does not bring it back.
func TestHintCatchesUp(t *testing.T) {
	pl, clock := newTestPlugin(t)
	clock.Set(t0.Add(5 * time.Second))
	logger := klog.Background()
	pod := upperPod("p", "6")
	m := capacity.NewModel(capacity.Options{})
	m.SetNode(lowerNode("small", "4"))
	// The plugin's informer hands typed objects; the scheduler's events, unstructured.
	typed := func(updated time.Time) *v1alpha1.ClusterSummary {
		st := m.Summary()
		st.VirtualNode, st.UpdateTime = "vk-a", metav1.NewMicroTime(updated)
		return &v1alpha1.ClusterSummary{
			TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.SchemeGroupVersion.String(), Kind: v1alpha1.ClusterSummaryKind},
			ObjectMeta: metav1.ObjectMeta{Name: "vk-a"}, Status: *st,
		}
	}
	summary := func(cs *v1alpha1.ClusterSummary) *unstructured.Unstructured {
		raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(cs)
		if err != nil {
			t.Fatal(err)
		}
		return &unstructured.Unstructured{Object: raw}
	}
	smallTyped := typed(t0)
	small := summary(smallTyped)
	pl.summaryHandler(logger).OnAdd(smallTyped, false)
	if st := schedule(t, pl, pod, virtualNode("vk-a")); st.IsSuccess() {
		t.Fatal("a 6 CPU pod fits lower nodes of 4 CPU")
	}

	m.SetNode(lowerNode("big", "8"))
	bigTyped := typed(t0.Add(time.Second))
	big := summary(bigTyped)
	if h, _ := pl.hintSummary(logger, pod, small, big); h != fwk.Queue {
		t.Fatalf("hint = %v, want Queue", h)
	}
	if st := schedule(t, pl, upperPod("p", "6"), virtualNode("vk-a")); !st.IsSuccess() {
		t.Fatalf("retry after the hint: %v; the hint did not bring the view up to its summary", st)
	}

	pl.summaryHandler(logger).OnUpdate(nil, smallTyped) // the plugin's informer, lagging
	if ix := pl.store.snapshot().nodes["vk-a"]; !ix.UpdateTime.Equal(t0.Add(time.Second)) {
		t.Errorf("an older summary took the view back to %v", ix.UpdateTime)
	}

	pl.summaryHandler(logger).OnDelete(bigTyped)
	if _, _ = pl.hintSummary(logger, pod, small, big); pl.store.snapshot().isVirtualName("vk-a") {
		t.Error("a late copy brought a deleted summary back")
	}
}

// TestSummaryStamp reads what the typed conversion would, without it.
func TestSummaryStamp(t *testing.T) {
	at := t0.Add(1234567 * time.Microsecond)
	hash, updated, err := summaryStamp(summaryObject(t, "vk-a", "h1", at))
	if err != nil || hash != "h1" || !updated.Equal(at) {
		t.Errorf("stamp = %q, %v, %v; want h1, %v, nil", hash, updated, err, at)
	}
	cs, err := summaryFromObject(summaryObject(t, "vk-a", "h1", at))
	if err != nil || !cs.Status.UpdateTime.Time.Equal(updated) {
		t.Errorf("typed updateTime = %v (%v), stamp %v", cs.Status.UpdateTime, err, updated)
	}
	hash, updated, err = summaryStamp(&unstructured.Unstructured{Object: map[string]any{}})
	if err != nil || hash != "" || !updated.IsZero() {
		t.Errorf("empty object: stamp = %q, %v, %v; want \"\", zero, nil", hash, updated, err)
	}
	bad := summaryObject(t, "vk-a", "h1", at)
	if err := unstructured.SetNestedField(bad.Object, "yesterday", "status", "updateTime"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := summaryStamp(bad); err == nil {
		t.Error("malformed updateTime: no error")
	}
	pl, clock := newTestPlugin(t)
	clock.Set(at)
	if h, err := pl.hintSummary(klog.Background(), upperPod("p", "1"), bad, summaryObject(t, "vk-a", "h1", at)); h != fwk.Queue || err == nil {
		t.Errorf("heartbeat after a malformed summary: hint = %v, err = %v; want Queue and an error", h, err)
	}
}
