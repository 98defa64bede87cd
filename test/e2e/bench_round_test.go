package e2e

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// benchPath is one way of running the benchmark's pods.
type benchPath int

const (
	pathDirect  benchPath = iota // created in lower-a, placed by its scheduler
	pathThrough                  // created in the upper cluster, bound to the virtual node
	pathKWOK                     // created in the upper cluster, bound to its own KWOK nodes: a kubelet's baseline
)

func (p benchPath) String() string {
	return [...]string{"direct in lower-a", "through the virtual node", "KWOK nodes of the upper"}[p]
}

// benchEnv is what every round needs: clients, the virtual node, the upper KWOK nodes.
type benchEnv struct {
	c         benchClients
	vnode     string
	kwokNodes []string
}

type benchClients struct{ upper, lower kubernetes.Interface }

// fastClients are clients without client-side throttling: the benchmark measures the
// clusters and the virtual node, not its own rate limiter.
func fastClients(t testing.TB) benchClients {
	mk := func(c *Cluster) kubernetes.Interface {
		cfg := *c.Config
		cfg.QPS, cfg.Burst = 5000, 10000
		return try(kubernetes.NewForConfig(&cfg)).must(t)
	}
	return benchClients{upper: mk(upper), lower: mk(lowerA)}
}

// podClock records, per pod name, when something happened to it.
type podClock struct {
	mu     sync.Mutex
	start  time.Time
	at     map[string]time.Duration
	want   int
	done   chan struct{}
	closed bool
}

func newPodClock(want int) *podClock {
	return &podClock{at: map[string]time.Duration{}, want: want, done: make(chan struct{})}
}

// mark records name's first event, relative to the clock's start.
func (c *podClock) mark(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, seen := c.at[name]; seen || c.start.IsZero() {
		return
	}
	c.at[name] = time.Since(c.start)
	if len(c.at) == c.want && !c.closed {
		c.closed = true
		close(c.done)
	}
}

// begin starts the clock.
func (c *podClock) begin() {
	c.mu.Lock()
	c.start = time.Now()
	c.mu.Unlock()
}

// wait waits for every pod's event, or fails the test after timeout.
func (c *podClock) wait(t testing.TB, what string, timeout time.Duration) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(timeout):
		c.mu.Lock()
		defer c.mu.Unlock()
		t.Fatalf("only %d of %d pods %s after %v", len(c.at), c.want, what, timeout)
	}
}

// sorted returns the recorded times, in order.
func (c *podClock) sorted() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]time.Duration, 0, len(c.at))
	for _, d := range c.at {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func (c *podClock) get(name string) (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.at[name]
	return d, ok
}

// benchRun is one round of one path: its namespace and the informers that time it.
type benchRun struct {
	env      *benchEnv
	path     benchPath
	n        int
	ns       string
	target   kubernetes.Interface
	cluster  *Cluster
	created  *podClock // create calls returned (relative to the burst's start)
	running  *podClock // Running seen on the side where the pod was created
	marked   *podClock // deletionTimestamp seen (relative to the namespace delete)
	gone     *podClock // pod deleted on the side where it was created
	lowerGon *podClock // through: the lower pod deleted
	stop     chan struct{}
}

// syncResult is the create phase of a round.
type syncResult struct{ wall, p50, p99 time.Duration }

// cleanupResult is the delete phase of a round: from the first pod's delete call until
// every pod was marked, its lower pod gone (through), the pod gone; and how long the
// empty namespace then took to go.
type cleanupResult struct {
	marked, lowerGone, gone, nsGone time.Duration
	// maxLag is the longest wait of one pod between its lower pod's removal and its upper
	// pod's (through), or between its deletionTimestamp and its removal (other paths).
	maxLag time.Duration
}

// startBenchRun creates the round's namespace and starts its informers.
func startBenchRun(t testing.TB, env *benchEnv, path benchPath, n int) *benchRun {
	t.Helper()
	r := &benchRun{env: env, path: path, n: n, target: env.c.upper, cluster: upper,
		created: newPodClock(n), running: newPodClock(n), marked: newPodClock(n), gone: newPodClock(n),
		lowerGon: newPodClock(n), stop: make(chan struct{})}
	if path == pathDirect {
		r.target, r.cluster = env.c.lower, lowerA
	}
	ns := try(r.target.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-"}}, metav1.CreateOptions{})).must(t)
	r.ns = ns.Name
	// Pods are refused until the namespace's default ServiceAccount exists, which the
	// controller-manager creates a moment later (seconds on a loaded machine).
	eventually(t, 60*time.Second, "default ServiceAccount in "+r.ns, func(ctx context.Context) (bool, string) {
		_, err := r.target.CoreV1().ServiceAccounts(r.ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, fmt.Sprint(err)
	})
	t.Cleanup(func() {
		close(r.stop)
		// bench.sh tears the test bed down; a kept one gets its namespace removed.
		_ = r.target.CoreV1().Namespaces().Delete(context.Background(), r.ns, metav1.DeleteOptions{})
	})
	factory := informers.NewSharedInformerFactoryWithOptions(r.target, 0, informers.WithNamespace(r.ns))
	_, _ = factory.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj any) {
			p := obj.(*corev1.Pod)
			if p.DeletionTimestamp != nil {
				r.marked.mark(p.Name)
			} else if p.Status.Phase == corev1.PodRunning {
				r.running.mark(p.Name)
			}
		},
		DeleteFunc: func(obj any) {
			if p, ok := unwrapPod(obj); ok {
				r.marked.mark(p.Name)
				r.gone.mark(p.Name)
			}
		},
	})
	factory.Start(r.stop)
	factory.WaitForCacheSync(r.stop)
	if path == pathThrough {
		// The lower pods of the virtual node, wherever its namespace map puts them.
		lf := informers.NewSharedInformerFactoryWithOptions(env.c.lower, 0,
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = ownerLabel + "=" + env.vnode }))
		_, _ = lf.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			DeleteFunc: func(obj any) {
				if p, ok := unwrapPod(obj); ok {
					r.lowerGon.mark(p.Name)
				}
			},
		})
		lf.Start(r.stop)
		lf.WaitForCacheSync(r.stop)
	}
	return r
}

func unwrapPod(obj any) (*corev1.Pod, bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	p, ok := obj.(*corev1.Pod)
	return p, ok
}

// pod is the round's i-th pod on its path.
func (r *benchRun) pod(i int) *corev1.Pod {
	pod := virtualPod(r.ns, fmt.Sprintf("p-%04d", i), r.env.vnode)
	switch r.path {
	case pathDirect:
		pod.Spec.NodeName, pod.Spec.Tolerations = "", nil
	case pathKWOK:
		// Bound like the virtual node's pods (no scheduler on either path), and selected
		// to the bench's KWOK nodes.
		pod.Spec.NodeName, pod.Spec.Tolerations = r.env.kwokNodes[i%len(r.env.kwokNodes)], nil
		pod.Spec.NodeSelector = map[string]string{benchKWOKLabel: "true"}
	}
	return pod
}

// create creates the round's pods (64 in flight) and waits, with the informer, until
// all are Running on the side where they were created.
func (r *benchRun) create(t testing.TB) syncResult {
	t.Helper()
	ctx := context.Background()
	r.created.begin()
	r.running.begin()
	start := time.Now()
	var failed atomic.Int32
	inFlight(r.n, func(i int) {
		pod := r.pod(i)
		if _, err := r.target.CoreV1().Pods(r.ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			failed.Add(1)
			t.Error(err)
		}
		r.created.mark(pod.Name)
	})
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d pods not created", n, r.n)
	}
	r.running.wait(t, "Running", 5*time.Minute)
	wall := time.Since(start)
	// Per-pod latency: from its create call's return to Running.
	lat := make([]time.Duration, 0, r.n)
	for name := range r.running.at {
		run, _ := r.running.get(name)
		c, _ := r.created.get(name)
		lat = append(lat, max(run-c, 0))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return syncResult{wall: wall, p50: lat[len(lat)/2], p99: lat[len(lat)*99/100]}
}

// cleanup deletes the round's pods (64 calls in flight, like create), times their
// removal, then deletes the namespace. Deleting the namespace alone would time the
// namespace controller instead: on this test bed it reaches the pods only after
// ~8-12 s, whatever the path.
func (r *benchRun) cleanup(t testing.TB) cleanupResult {
	t.Helper()
	ctx := context.Background()
	for _, c := range []*podClock{r.marked, r.gone, r.lowerGon} {
		c.begin()
	}
	inFlight(r.n, func(i int) {
		err := r.target.CoreV1().Pods(r.ns).Delete(ctx, fmt.Sprintf("p-%04d", i), metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Error(err)
		}
	})
	r.gone.wait(t, "gone", 5*time.Minute)
	var res cleanupResult
	if g := r.gone.sorted(); len(g) > 0 {
		res.gone = g[len(g)-1]
	}
	if m := r.marked.sorted(); len(m) > 0 {
		res.marked = m[len(m)-1]
	}
	if r.path == pathThrough {
		r.lowerGon.wait(t, "gone below", 2*time.Minute)
		l := r.lowerGon.sorted()
		res.lowerGone = l[len(l)-1]
	}
	for i := 0; i < r.n; i++ {
		name := fmt.Sprintf("p-%04d", i)
		g, _ := r.gone.get(name)
		from, _ := r.marked.get(name)
		if r.path == pathThrough {
			from, _ = r.lowerGon.get(name)
		}
		res.maxLag = max(res.maxLag, g-from)
	}
	nsStart := time.Now()
	if err := r.target.CoreV1().Namespaces().Delete(ctx, r.ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_ = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := r.target.CoreV1().Namespaces().Get(ctx, r.ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	res.nsGone = time.Since(nsStart)
	return res
}

// inFlight calls f(0..n-1) with 64 calls at a time, as a busy controller would.
func inFlight(n int, f func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			f(i)
		}()
	}
	wg.Wait()
}
