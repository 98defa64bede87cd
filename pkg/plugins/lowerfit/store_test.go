package lowerfit

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
	"github.com/tensile-kube/tensile/pkg/capacity"
)

// TestReserveMatchesRebuild: reserve charges the newest pod on top of the current view
// instead of rebuilding it from the summary; the result must be the rebuild's, also
// after a release forced a rebuild in between.
func TestReserveMatchesRebuild(t *testing.T) {
	pl, clock := newTestPlugin(t)
	publish(pl, "vk-a", t0, lowerNode("a", "8"), lowerNode("b", "16"), lowerNode("c", "32", "zone", "z1"))
	s := pl.store
	for i := 0; i < 40; i++ {
		clock.Set(t0.Add(time.Duration(i) * time.Millisecond))
		q := capacity.NewQuery(capacity.PodRequests(upperPod("p", fmt.Sprintf("%dm", 100+(i%7)*150))), nil)
		s.reserve(types.UID(fmt.Sprint(i)), types.NamespacedName{Name: fmt.Sprint(i)}, "vk-a", q)
		if i == 20 {
			s.release("3")
		}
		incremental := s.snapshot().nodes["vk-a"]
		s.mu.Lock()
		s.rebuild("vk-a", false)
		s.mu.Unlock()
		if rebuilt := s.snapshot().nodes["vk-a"]; !reflect.DeepEqual(incremental, rebuilt) {
			t.Fatalf("after %d reservations the incremental view differs from a rebuild:\n%+v\n%+v", i+1, incremental, rebuilt)
		}
	}
}

// TestHeartbeat: a summary update with unchanged content moves the held index's time
// without recompiling it, releases the reservations the newer time counts, keeps the
// others charged, and gives exactly the view a rebuild would; a changed content or an
// older time takes the ordinary path.
func TestHeartbeat(t *testing.T) {
	pl, _ := newTestPlugin(t)
	m := publish(pl, "vk-a", t0, lowerNode("a", "8"), lowerNode("b", "16"))
	s, h := pl.store, pl.summaryHandler(klog.Background())
	object := func(at time.Time) *v1alpha1.ClusterSummary {
		st := m.Summary()
		st.VirtualNode, st.UpdateTime = "vk-a", metav1.NewMicroTime(at)
		return &v1alpha1.ClusterSummary{ObjectMeta: metav1.ObjectMeta{Name: "vk-a"}, Status: *st}
	}
	p1, p2 := upperPod("p1", "6"), upperPod("p2", "6")
	for _, p := range []*corev1.Pod{p1, p2} {
		if st := schedule(t, pl, p, virtualNode("vk-a")); !st.IsSuccess() {
			t.Fatal(st)
		}
	}
	s.observePod(scheduledBelow(p1, t0.Add(2*time.Second)))
	check := func(step string, wantTime time.Time, wantHeld ...types.UID) {
		t.Helper()
		eff := s.snapshot().nodes["vk-a"]
		if !eff.UpdateTime.Equal(wantTime) || !s.summaries["vk-a"].UpdateTime.Equal(wantTime) {
			t.Errorf("%s: update time %s (summary %s), want %s", step, eff.UpdateTime, s.summaries["vk-a"].UpdateTime, wantTime)
		}
		s.mu.Lock()
		var held []types.UID
		for uid := range s.byPod {
			held = append(held, uid)
		}
		s.rebuild("vk-a", false)
		s.mu.Unlock()
		if rebuilt := s.snapshot().nodes["vk-a"]; !reflect.DeepEqual(eff, rebuilt) {
			t.Errorf("%s: the view differs from a rebuild:\n%+v\n%+v", step, eff, rebuilt)
		}
		slices.Sort(held)
		if !slices.Equal(held, wantHeld) {
			t.Errorf("%s: reservations held %v, want %v", step, held, wantHeld)
		}
	}
	compiled := s.summaries["vk-a"]
	if !s.heartbeat("vk-a", t0.Add(time.Second), compiled.ContentHash) {
		t.Fatal("a heartbeat was not taken for one")
	}
	check("a heartbeat before p1's placement is counted", t0.Add(time.Second), p1.UID, p2.UID)
	h.OnUpdate(nil, object(t0.Add(4*time.Second)))
	check("a heartbeat that counts p1", t0.Add(4*time.Second), p2.UID)
	if s.summaries["vk-a"].ContentHash != compiled.ContentHash || s.summaries["vk-a"].LabelPolicy().ID() != compiled.LabelPolicy().ID() {
		t.Errorf("the heartbeat changed the summary's content")
	}
	h.OnUpdate(nil, object(t0.Add(3*time.Second)))
	check("an older copy", t0.Add(4*time.Second), p2.UID)

	m.SetNode(lowerNode("c", "32"))
	changed := object(t0.Add(5 * time.Second))
	if s.heartbeat("vk-a", changed.Status.UpdateTime.Time, changed.Status.ContentHash) {
		t.Fatal("a summary with new content was taken for a heartbeat")
	}
	h.OnUpdate(nil, changed)
	if got := s.summaries["vk-a"].ContentHash; got != changed.Status.ContentHash {
		t.Errorf("new content not compiled: hash %q, want %q", got, changed.Status.ContentHash)
	}
	check("new content", t0.Add(5*time.Second), p2.UID)
}
