package lowerfit

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

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
