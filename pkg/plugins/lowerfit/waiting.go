package lowerfit

import (
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// waiting is the set of pods that entered a scheduling cycle with this plugin and
// have not been placed since: the pods a summary change may help. The plugin watches
// ClusterSummaries with its own typed informer only and activates these pods itself
// when a summary changes (fwk.Handle.Activate). Registering the ClusterSummary event
// with the scheduler instead would make kube-scheduler start a dynamic informer that
// keeps a second, unstructured copy of every summary: at 100 virtual nodes the largest
// share of the plugin's memory (docs/benchmarks.md, "Where the memory goes").
type waiting struct {
	mu   sync.Mutex
	pods map[types.UID]*corev1.Pod
}

func newWaiting() *waiting { return &waiting{pods: map[types.UID]*corev1.Pod{}} }

// add records a pod entering a cycle. PreFilter calls it before it takes the view,
// so a summary that lands after the view was taken finds the pod here.
func (w *waiting) add(pod *corev1.Pod) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pods[pod.UID] = pod
}

// remove forgets a pod that was placed or deleted.
func (w *waiting) remove(uid types.UID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.pods, uid)
}

// take empties the set and returns its pods keyed by namespace/name, as
// fwk.PodActivator takes them. Activated pods that fail again come back through
// PreFilter.
func (w *waiting) take() map[string]*corev1.Pod {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.pods) == 0 {
		return nil
	}
	out := make(map[string]*corev1.Pod, len(w.pods))
	for _, p := range w.pods {
		out[types.NamespacedName{Namespace: p.Namespace, Name: p.Name}.String()] = p
	}
	w.pods = map[types.UID]*corev1.Pod{} // not clear(): a burst's buckets would stay
	return out
}

// len is the number of waiting pods.
func (w *waiting) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pods)
}
