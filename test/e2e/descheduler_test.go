package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
	"github.com/tensile-kube/tensile/pkg/constraints"
	"github.com/tensile-kube/tensile/pkg/generated/clientset/versioned"
	"github.com/tensile-kube/tensile/pkg/placement"
)

const (
	// deschedReporter is the reportingController of the plugin's Events.
	deschedReporter = "tensile.dev/recreate-unschedulable"
	// deschedWebhookConfig is the MutatingWebhookConfiguration this test's webhook manages.
	deschedWebhookConfig = "tensile-webhook-desched"
	// deschedGrace is the policy's unschedulableGracePeriod in these tests.
	deschedGrace = 2 * time.Second
)

// TestDescheduler proves issue 6 end to end: the upper scheduler admits pods to a virtual
// node on its aggregate capacity, its lower cluster cannot place them, and one run of
// the descheduler (RecreateUnschedulable) moves them to the other lower cluster, with the
// webhook carrying the original constraints down and the exclusions into replacements.
func TestDescheduler(t *testing.T) {
	vkA := startVirtualNode(t, "vk-a", lowerA)
	vkB := startVirtualNode(t, "vk-b", lowerB)
	ns := createNamespace(t, upper, "desched")
	startWebhook(t, ns)

	t.Run("replicas lower-a cannot place move to lower-b in one run", func(t *testing.T) {
		deschedMoveReplicas(t, ns, vkA.Name, vkB.Name)
	})
	t.Run("a bare pod no lower node fits is re-created up to the cap, then left with an Event", func(t *testing.T) {
		deschedCapBarePod(t, ns, vkA.Name)
	})
	t.Run("--dry-run changes nothing", func(t *testing.T) {
		deschedDryRun(t, ns)
	})
	t.Run("the descheduler loop moves a stuck pod by itself", func(t *testing.T) {
		deschedLoop(t, ns, vkA.Name, vkB.Name)
	})
	// Last: it adds a node to lower-a (removed afterwards), which the subtests above
	// count the capacity of.
	t.Run("a pod placed below but not started stays past maxPendingTime; an unplaced one moves", func(t *testing.T) {
		deschedPlacedPending(t, ns, vkA.Name)
	})
}

// deschedMoveReplicas is the scenario: 5 replicas x 3 CPU prefer vk-a, whose
// aggregate (12 CPU - 6 foreign) admits 2 that no fragmented lower-a node can place.
func deschedMoveReplicas(t *testing.T, ns, vkA, vkB string) {
	ctx := context.Background()
	t.Cleanup(func() { deschedCleanup(t, ns) })
	fns := createNamespace(t, lowerA, "foreign")
	try(lowerA.Client.AppsV1().Deployments(fns).Create(ctx, deschedFragmenter(fns), metav1.CreateOptions{})).must(t)
	eventually(t, 60*time.Second, "a foreign 2-CPU pod Running on each lower-a node", func(ctx context.Context) (bool, string) {
		pods := try(lowerA.Client.CoreV1().Pods(fns).List(ctx, metav1.ListOptions{})).must(t)
		nodes := map[string]bool{}
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning {
				nodes[p.Spec.NodeName] = true
			}
		}
		return len(nodes) == 3, fmt.Sprintf("running on %v", nodes)
	})
	deschedWaitAllocatable(t, vkA, "6")
	deschedWaitAllocatable(t, vkB, "24")

	watch := deschedWatchPods(t, ns)
	spec := deschedPodSpec("3", map[string]string{corev1.LabelOSStable: "linux"}, vkA)
	try(upper.Client.AppsV1().Deployments(ns).Create(ctx, deschedDeployment(ns, "web", 5, spec), metav1.CreateOptions{})).must(t)
	var stuck, running []corev1.Pod
	eventually(t, 90*time.Second, "2 replicas stuck on vk-a and 3 Running on vk-b", func(ctx context.Context) (bool, string) {
		stuck, running = nil, nil
		for _, p := range deschedLivePods(ctx, t, ns, "app=web") {
			switch {
			case deschedStuck(&p, vkA, deschedGrace):
				stuck = append(stuck, p)
			case p.Spec.NodeName == vkB && p.Status.Phase == corev1.PodRunning:
				running = append(running, p)
			}
		}
		return len(stuck) == 2 && len(running) == 3, fmt.Sprintf("%d stuck on %s, %d running on %s", len(stuck), vkA, len(running), vkB)
	})
	deschedCheckLowerPending(t, ns, stuck)

	watch.reset()
	start := time.Now()
	deschedRun(t, "move", deschedPolicy(t, "move", ns, deschedGrace, 5*time.Minute, 3))
	var final []corev1.Pod
	eventually(t, 90*time.Second, "5 replicas Running on vk-b, nothing left in lower-a", func(ctx context.Context) (bool, string) {
		final = deschedLivePods(ctx, t, ns, "app=web")
		onB := 0
		for _, p := range final {
			if p.Spec.NodeName == vkB && p.Status.Phase == corev1.PodRunning {
				onB++
			}
		}
		leftA := len(try(lowerA.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})).must(t).Items)
		return len(final) == 5 && onB == 5 && leftA == 0, fmt.Sprintf("%d pods, %d Running on %s, %d lower-a pods", len(final), onB, vkB, leftA)
	})
	t.Logf("all 5 replicas Running on %s %v after the descheduler started", vkB, time.Since(start).Round(100*time.Millisecond))

	// The pods moved are exactly the stuck ones; the Running ones were not touched.
	st := watch.stats()
	for _, p := range running {
		if !slices.ContainsFunc(final, func(f corev1.Pod) bool { return f.UID == p.UID }) {
			t.Errorf("Running replica %s was replaced", p.Name)
		}
	}
	for _, p := range final {
		isNew := !slices.ContainsFunc(running, func(r corev1.Pod) bool { return r.UID == p.UID })
		if excluded := deschedExcludes(&p, vkA); excluded != isNew {
			t.Errorf("pod %s: replacement %v, kubernetes.io/hostname NotIn [%s] %v; want the exclusion on the replacements only", p.Name, isNew, vkA, excluded)
		}
	}
	// The ReplicaSet ignores terminating pods, so each evicted pod coexists with its
	// replacement until the virtual node has deleted it below: at most replicas + evicted.
	if st.ended != 2 || st.created != 2 || st.maxActive > 5 || st.maxTotal > 5+st.ended {
		t.Errorf("during the run: %d pods evicted and %d created (want 2 and 2), at most %d active (want <= 5), %d in all (want <= %d)",
			st.ended, st.created, st.maxActive, st.maxTotal, 5+st.ended)
	}
	t.Logf("during the run: %d evicted, %d created, max %d active, max %d pods in all", st.ended, st.created, st.maxActive, st.maxTotal)
	deschedCheckMoved(t, ns, vkA, stuck, final)
}

// deschedCheckLowerPending checks that the stuck pods are Pending-Unschedulable below,
// with the original nodeSelector restored there.
func deschedCheckLowerPending(t *testing.T, ns string, stuck []corev1.Pod) {
	ctx := context.Background()
	for _, p := range stuck {
		low := try(lowerA.Client.CoreV1().Pods(ns).Get(ctx, p.Name, metav1.GetOptions{})).must(t)
		if low.Spec.NodeName != "" || low.Spec.NodeSelector[corev1.LabelOSStable] != "linux" {
			t.Errorf("lower pod %s: node %q nodeSelector %v, want unbound with kubernetes.io/os=linux", p.Name, low.Spec.NodeName, low.Spec.NodeSelector)
		}
	}
}

// deschedCheckMoved checks the end state of a move: the replicas' constraints went
// below, and the controller's record and the pods' Events exist.
func deschedCheckMoved(t *testing.T, ns, from string, stuck, final []corev1.Pod) {
	ctx := context.Background()
	for _, p := range final {
		saved, ok, err := constraints.Load(&p)
		if err != nil || !ok || saved.NodeSelector[corev1.LabelOSStable] != "linux" || p.Spec.NodeSelector[corev1.LabelOSStable] != "" {
			t.Errorf("upper pod %s: nodeSelector %v, saved constraints %v (%v), want the selector only in the annotation", p.Name, p.Spec.NodeSelector, saved, err)
		}
		low := try(lowerB.Client.CoreV1().Pods(ns).Get(ctx, p.Name, metav1.GetOptions{})).must(t)
		if low.Spec.NodeSelector[corev1.LabelOSStable] != "linux" || low.Status.Phase != corev1.PodRunning {
			t.Errorf("lower pod %s: nodeSelector %v phase %s, want kubernetes.io/os=linux and Running", p.Name, low.Spec.NodeSelector, low.Status.Phase)
		}
	}
	owner := metav1.GetControllerOf(&stuck[0])
	rec := deschedRecord(ctx, t, ns, placement.RecordName(owner.Kind, owner.Name))
	if rec == nil || rec.Spec.Owner.UID != owner.UID || !slices.Equal(placement.Active(rec.Spec.Exclusions, time.Now()), []string{from}) ||
		rec.Annotations[placement.RecreationsAnnotation] != "1" {
		t.Errorf("PlacementExclusion for %s %s = %+v, want %s excluded, counted once", owner.Kind, owner.Name, rec, from)
	}
	for _, p := range stuck {
		if ev, err := findEvent(ctx, upper, ns, p.Name, "VirtualNodeExcluded", deschedReporter); ev == nil {
			t.Errorf("no VirtualNodeExcluded Event on %s (%v)", p.Name, err)
		}
	}
}

// deschedCapBarePod re-creates a bare 10 CPU pod, which both virtual nodes admit and no
// lower node (4 or 8 CPU) can place. Exclusions last 1s, so each replacement goes back
// to the other virtual node, until the cap (3) leaves the last one Pending.
func deschedCapBarePod(t *testing.T, ns, vkA string) {
	ctx := context.Background()
	t.Cleanup(func() { deschedCleanup(t, ns) })
	deschedWaitAllocatable(t, vkA, "12")
	policy := deschedPolicy(t, "cap", ns, deschedGrace, time.Second, 3)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "greedy", Namespace: ns, Labels: deschedLabels("greedy")},
		Spec:       deschedPodSpec("10", map[string]string{corev1.LabelOSStable: "linux"}, ""),
	}
	try(upper.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})).must(t)
	name, prevNode := "greedy", ""
	for i := 1; i <= 3; i++ {
		cur := deschedWaitBareStuck(t, ns, name)
		if cur.Spec.NodeName == prevNode {
			t.Fatalf("%s landed on %s again, which its predecessor was moved off", name, prevNode)
		}
		prevNode = cur.Spec.NodeName
		deschedRun(t, fmt.Sprintf("cap-%d", i), policy)
		next := fmt.Sprintf("greedy-r%d", i)
		eventually(t, 30*time.Second, next+" replaces "+name, func(ctx context.Context) (bool, string) {
			old, err := upper.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			gone := apierrors.IsNotFound(err) || (err == nil && old.DeletionTimestamp != nil)
			repl, err := upper.Client.CoreV1().Pods(ns).Get(ctx, next, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			lin, _ := deschedLineage(ctx, t, repl)
			return gone && lin.Recreations == i && lin.Original == "greedy" && deschedExcludes(repl, prevNode),
				fmt.Sprintf("old gone %v, lineage %+v", gone, lin)
		})
		name = next
	}
	last := deschedWaitBareStuck(t, ns, name)
	deschedRun(t, "cap-4", policy)
	eventually(t, 10*time.Second, "RecreationLimitReached Event on "+name, func(ctx context.Context) (bool, string) {
		ev, err := findEvent(ctx, upper, ns, name, "RecreationLimitReached", deschedReporter)
		return ev != nil && strings.Contains(ev.Message, "cap 3"), fmt.Sprintf("%v %v", ev, err)
	})
	now := try(upper.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})).must(t)
	pods := deschedLivePods(ctx, t, ns, "app=greedy")
	if now.UID != last.UID || now.DeletionTimestamp != nil || now.Status.Phase != corev1.PodPending || len(pods) != 1 {
		t.Errorf("after the cap: %s uid %s->%s deleting %v phase %s, %d pods; want it left Pending alone", name, last.UID, now.UID,
			now.DeletionTimestamp != nil, now.Status.Phase, len(pods))
	}
	if _, err := upper.Client.CoreV1().Pods(ns).Get(ctx, "greedy-r4", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("greedy-r4: %v, want NotFound", err)
	}
}

// deschedWaitBareStuck waits until the bare pod is stuck on a virtual node past the grace
// period and its earlier exclusions have expired, and returns it.
func deschedWaitBareStuck(t *testing.T, ns, name string) *corev1.Pod {
	var pod *corev1.Pod
	eventually(t, 60*time.Second, name+" unschedulable below, exclusions expired", func(ctx context.Context) (bool, string) {
		var err error
		if pod, err = upper.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
			return false, err.Error()
		}
		lin, _ := deschedLineage(ctx, t, pod)
		excl := lin.Exclusions
		return deschedStuck(pod, pod.Spec.NodeName, deschedGrace) && pod.Spec.NodeName != "" && len(placement.Active(excl, time.Now())) == 0,
			fmt.Sprintf("node %q conditions %v exclusions %v", pod.Spec.NodeName, pod.Status.Conditions, excl)
	})
	return pod
}

// deschedDryRun runs the descheduler with --dry-run on a Deployment's pod and a bare pod
// that it would move (their original nodeSelector matches no lower node): no pod is
// deleted or created, no record or Event is written. A real run then moves both.
func deschedDryRun(t *testing.T, ns string) {
	ctx := context.Background()
	t.Cleanup(func() { deschedCleanup(t, ns) })
	nowhere := map[string]string{"tensile.dev/e2e-pool": "none"}
	try(upper.Client.AppsV1().Deployments(ns).Create(ctx, deschedDeployment(ns, "dry", 1, deschedPodSpec("100m", nowhere, "")), metav1.CreateOptions{})).must(t)
	bare := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "dry-bare", Namespace: ns, Labels: deschedLabels("dry-bare")}, Spec: deschedPodSpec("100m", nowhere, "")}
	try(upper.Client.CoreV1().Pods(ns).Create(ctx, bare, metav1.CreateOptions{})).must(t)
	var before []corev1.Pod
	eventually(t, 60*time.Second, "both pods unschedulable below", func(ctx context.Context) (bool, string) {
		before = deschedLivePods(ctx, t, ns, "")
		n := 0
		for _, p := range before {
			if deschedStuck(&p, p.Spec.NodeName, deschedGrace) && p.Spec.NodeName != "" {
				n++
			}
		}
		return n == 2 && len(before) == 2, fmt.Sprintf("%d of %d stuck", n, len(before))
	})
	policy := deschedPolicy(t, "dry-run", ns, deschedGrace, 5*time.Minute, 3)
	watch := deschedWatchPods(t, ns)
	// Every dry run must report both pods the first time: the plugin fills upstream's
	// sandbox itself (kubernetes-sigs/descheduler#1917). E2E_DRYRUN_REPEAT runs it more
	// often (the 20-run loop); the checks below cover every run.
	runs := 2
	if v, err := strconv.Atoi(os.Getenv("E2E_DRYRUN_REPEAT")); err == nil && v > 0 {
		runs = v
	}
	for run := 1; run <= runs; run++ {
		out := deschedExec(t, fmt.Sprintf("dry-run-%d", run), policy, "--dry-run")
		for _, want := range []string{`"Would re-create pod"`, `replacement="dry-bare-r1"`, `"Dry run: would record Event"`, `reason="VirtualNodeExcluded"`} {
			if !strings.Contains(out, want) {
				t.Errorf("dry run %d of %d: output lacks %s: the pods were not candidates", run, runs, want)
			}
		}
		if strings.Contains(out, "Skipping descheduling cycle") {
			t.Errorf("dry run %d of %d skipped its cycle", run, runs)
		}
	}
	t.Logf("%d dry runs, each checked", runs)
	after := deschedLivePods(ctx, t, ns, "")
	uids := func(ps []corev1.Pod) []types.UID {
		var out []types.UID
		for _, p := range ps {
			out = append(out, p.UID)
		}
		slices.Sort(out)
		return out
	}
	if st := watch.stats(); st.created != 0 || st.ended != 0 || !slices.Equal(uids(before), uids(after)) {
		t.Errorf("dry run changed pods: %d created, %d deleted, UIDs %v -> %v", st.created, st.ended, uids(before), uids(after))
	}
	if recs := deschedRecords(ctx, t, ns); len(recs) != 0 {
		t.Errorf("dry run wrote PlacementExclusions: %v", recs)
	}
	evs := try(upper.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})).must(t)
	for _, e := range evs.Items {
		// The namespace also holds the Events of the earlier subtests' pods.
		if e.ReportingController == deschedReporter && (strings.HasPrefix(e.InvolvedObject.Name, "dry") || strings.HasPrefix(e.InvolvedObject.Name, "replicaset-dry")) {
			t.Errorf("dry run recorded Event %s %s: %s", e.Reason, e.InvolvedObject.Name, e.Message)
		}
	}

	deschedRun(t, "after-dry-run", policy)
	eventually(t, 30*time.Second, "the real run moves both", func(ctx context.Context) (bool, string) {
		repl, err := upper.Client.CoreV1().Pods(ns).Get(ctx, "dry-bare-r1", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		// The ReplicaSet's record and the lineage record of dry-bare-r1.
		recs := deschedRecords(ctx, t, ns)
		_, lineage := deschedLineage(ctx, t, repl)
		return lineage && len(recs) == 2, fmt.Sprintf("dry-bare-r1 lineage recorded %v, records %v", lineage, recs)
	})
}

// deschedLoop runs the descheduler as a loop (--descheduling-interval, as make demo
// does): a bare 5 CPU pod that prefers vk-a, whose nodes have 4 CPU, ends up Running on
// vk-b as its replacement without anyone running the descheduler by hand.
func deschedLoop(t *testing.T, ns, vkA, vkB string) {
	ctx := context.Background()
	t.Cleanup(func() { deschedCleanup(t, ns) })
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "loop", Namespace: ns, Labels: deschedLabels("loop")},
		Spec:       deschedPodSpec("5", map[string]string{corev1.LabelOSStable: "linux"}, vkA),
	}
	try(upper.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})).must(t)
	start := time.Now()
	startProcess(t, "descheduler-loop", "descheduler", "--kubeconfig", upper.Kubeconfig,
		"--policy-config-file", deschedPolicy(t, "loop", ns, deschedGrace, 5*time.Minute, 3),
		"--descheduling-interval", "2s", "--secure-port", "0", "--v", "2")
	eventually(t, 60*time.Second, "loop-r1 Running on "+vkB, func(ctx context.Context) (bool, string) {
		p, err := upper.Client.CoreV1().Pods(ns).Get(ctx, "loop-r1", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return p.Spec.NodeName == vkB && p.Status.Phase == corev1.PodRunning, fmt.Sprintf("on %q, %s", p.Spec.NodeName, p.Status.Phase)
	})
	t.Logf("loop-r1 Running on %s %v after the loop started", vkB, time.Since(start).Round(100*time.Millisecond))
	if ev, err := findEvent(ctx, upper, ns, "loop", "Recreated", deschedReporter); ev == nil {
		t.Errorf("no Recreated Event on the original pod (%v)", err)
	}
}

// deschedNoKubeletNode is a lower-a node that KWOK does not manage (no
// kwok.x-k8s.io/node annotation): the lower scheduler binds pods to it, and nothing
// ever starts them, as with a kubelet pulling a large image for ever.
const deschedNoKubeletNode = "desched-no-kubelet"

// deschedPlacedPending is issue #12 item 7: maxPendingTime counts only the time the
// lower cluster has reported a pod PodScheduled=False. With maxPendingTime 5s (and a
// grace period of an hour, so that only maxPendingTime can move a pod), a pod the lower
// cluster bound to a node where it stays Pending is left alone however old it is, and
// a pod the lower cluster cannot place is still re-created, in the same run.
func deschedPlacedPending(t *testing.T, ns, vkA string) {
	ctx := context.Background()
	const maxPending = 5 * time.Second
	t.Cleanup(func() { deschedCleanup(t, ns) })
	deschedAddNoKubeletNode(t, ns)

	heldSpec := deschedPodSpec("100m", map[string]string{"tensile.dev/e2e-pool": deschedNoKubeletNode}, "")
	term := &heldSpec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0]
	term.MatchExpressions = append(term.MatchExpressions, corev1.NodeSelectorRequirement{
		Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{vkA}})
	// Below, the node is tainted for this pod alone, and tolerated for ever although no
	// kubelet ever reports it Ready.
	heldSpec.Tolerations = []corev1.Toleration{{Key: deschedNoKubeletNode, Operator: corev1.TolerationOpExists},
		{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists},
		{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists}}
	held := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "held", Namespace: ns, Labels: deschedLabels("held")}, Spec: heldSpec}
	held = try(upper.Client.CoreV1().Pods(ns).Create(ctx, held, metav1.CreateOptions{})).must(t)
	nowhere := map[string]string{"tensile.dev/e2e-pool": "none"}
	unplaced := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "unplaced", Namespace: ns, Labels: deschedLabels("unplaced")},
		Spec: deschedPodSpec("100m", nowhere, vkA)}
	try(upper.Client.CoreV1().Pods(ns).Create(ctx, unplaced, metav1.CreateOptions{})).must(t)

	// The virtual node holds the placed-but-unreported status up to 30 s (unreportedHold).
	eventually(t, 90*time.Second, "held bound below and Pending past maxPendingTime, unplaced unschedulable below past it", func(ctx context.Context) (bool, string) {
		up := try(upper.Client.CoreV1().Pods(ns).Get(ctx, "held", metav1.GetOptions{})).must(t)
		low, err := lowerA.Client.CoreV1().Pods(ns).Get(ctx, "held", metav1.GetOptions{})
		if err != nil {
			return false, "lower held: " + err.Error()
		}
		stuck := try(upper.Client.CoreV1().Pods(ns).Get(ctx, "unplaced", metav1.GetOptions{})).must(t)
		ok := deschedPlacedBelow(up, low) && time.Since(up.CreationTimestamp.Time) > maxPending &&
			deschedStuck(stuck, stuck.Spec.NodeName, maxPending) && stuck.Spec.NodeName != ""
		return ok, fmt.Sprintf("held upper %s %v, lower on %q %s %v; unplaced on %q %v", up.Status.Phase, up.Status.Conditions,
			low.Spec.NodeName, low.Status.Phase, low.Status.Conditions, stuck.Spec.NodeName, stuck.Status.Conditions)
	})
	deschedRun(t, "placed-pending", deschedPolicyPending(t, "placed-pending", ns, time.Hour, maxPending, 5*time.Minute, 3))

	// The run is over: whatever it did to held is done.
	switch now, err := upper.Client.CoreV1().Pods(ns).Get(ctx, "held", metav1.GetOptions{}); {
	case err != nil:
		t.Errorf("held after the run: %v; want it left alone", err)
	case now.UID != held.UID || now.DeletionTimestamp != nil || now.Status.Phase != corev1.PodPending:
		t.Errorf("held after the run: uid %s->%s, deleting %v, phase %s; want it left alone", held.UID, now.UID, now.DeletionTimestamp != nil, now.Status.Phase)
	}
	if _, err := upper.Client.CoreV1().Pods(ns).Get(ctx, "held-r1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("held-r1: %v, want NotFound: a pod placed below was re-created for being Pending", err)
	}
	if ev, _ := findEvent(ctx, upper, ns, "held", "Recreated", deschedReporter); ev != nil {
		t.Errorf("Recreated Event on held: %s", ev.Message)
	}
	eventually(t, 30*time.Second, "unplaced re-created as unplaced-r1", func(ctx context.Context) (bool, string) {
		repl, err := upper.Client.CoreV1().Pods(ns).Get(ctx, "unplaced-r1", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		ev, _ := findEvent(ctx, upper, ns, "unplaced", "Recreated", deschedReporter)
		lin, _ := deschedLineage(ctx, t, repl)
		return ev != nil && strings.Contains(ev.Message, "not placed by the lower cluster") && lin.Recreations == 1,
			fmt.Sprintf("Event %v, lineage %+v", ev, lin)
	})
	t.Logf("held Pending %v after its creation, placed below, left alone; unplaced moved", time.Since(held.CreationTimestamp.Time).Round(time.Second))
}

// deschedPlacedBelow reports whether the lower pod is bound to the no-kubelet node and
// Pending there, and the upper pod mirrors it: Pending, with the lower PodScheduled=True
// and the upper generation observed, which only the virtual node's status write sets
// (the upper scheduler's own PodScheduled=True often has the same second).
func deschedPlacedBelow(up, low *corev1.Pod) bool {
	cond := func(p *corev1.Pod) *corev1.PodCondition {
		for i := range p.Status.Conditions {
			if p.Status.Conditions[i].Type == corev1.PodScheduled {
				return &p.Status.Conditions[i]
			}
		}
		return nil
	}
	uc, lc := cond(up), cond(low)
	return low.Spec.NodeName == deschedNoKubeletNode && low.Status.Phase == corev1.PodPending &&
		up.Status.Phase == corev1.PodPending && up.DeletionTimestamp == nil && lc != nil && uc != nil &&
		up.Generation > 0 && up.Status.ObservedGeneration == up.Generation &&
		lc.Status == corev1.ConditionTrue && uc.Status == corev1.ConditionTrue && uc.LastTransitionTime.Equal(&lc.LastTransitionTime)
}

// deschedAddNoKubeletNode adds deschedNoKubeletNode to lower-a, tainted so that only
// pods tolerating it go there, and removes it when the test ends: first the pods of ns
// bound to it, which no kubelet will ever finish, by force.
func deschedAddNoKubeletNode(t *testing.T, ns string) {
	ctx := context.Background()
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: deschedNoKubeletNode, Labels: map[string]string{
			corev1.LabelHostname: deschedNoKubeletNode, corev1.LabelOSStable: "linux", "tensile.dev/e2e-pool": deschedNoKubeletNode}},
		Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: deschedNoKubeletNode, Effect: corev1.TaintEffectNoSchedule}}},
	}
	try(lowerA.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})).must(t)
	t.Cleanup(func() {
		noErr(t, upper.Client.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}))
		zero := int64(0)
		eventually(t, 60*time.Second, "no pod of "+ns+" left on "+deschedNoKubeletNode, func(ctx context.Context) (bool, string) {
			pods := try(lowerA.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + deschedNoKubeletNode})).must(t)
			for _, p := range pods.Items {
				err := lowerA.Client.CoreV1().Pods(ns).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
				if err != nil && !apierrors.IsNotFound(err) {
					return false, err.Error()
				}
			}
			return len(pods.Items) == 0, fmt.Sprintf("%d pods", len(pods.Items))
		})
		noErr(t, lowerA.Client.CoreV1().Nodes().Delete(ctx, deschedNoKubeletNode, metav1.DeleteOptions{}))
	})
	room := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("16Gi"),
		corev1.ResourcePods: resource.MustParse("110")}
	// The node controllers update the new node too: retry on conflicts.
	noErr(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := lowerA.Client.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Status.Capacity, cur.Status.Allocatable = room, room
		_, err = lowerA.Client.CoreV1().Nodes().UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	}))
}

// startWebhook runs bin/webhook, which registers itself in the upper cluster with
// a generated CA and a URL on 127.0.0.1, and waits until the API server calls it.
func startWebhook(t *testing.T, ns string) {
	port, health := freePort(t), freePort(t)
	t.Cleanup(func() {
		_ = upper.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(context.Background(), deschedWebhookConfig, metav1.DeleteOptions{})
	})
	startProcess(t, "webhook-desched", "webhook", "--kubeconfig", upper.Kubeconfig, "--manage-webhook-config",
		"--webhook-config-name", deschedWebhookConfig, "--webhook-url", fmt.Sprintf("https://127.0.0.1:%d/mutate", port),
		"--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(port), "--cert-ips", "127.0.0.1",
		"--health-bind-address", fmt.Sprintf("127.0.0.1:%d", health), "--v", "2")
	httpc := &http.Client{Timeout: 2 * time.Second}
	probe := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: ns, Labels: deschedLabels("probe")},
		Spec:       deschedPodSpec("100m", map[string]string{corev1.LabelOSStable: "linux"}, ""),
	}
	eventually(t, 60*time.Second, "webhook ready and called by the API server", func(ctx context.Context) (bool, string) {
		resp, err := httpc.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", health))
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, "readyz: " + resp.Status
		}
		got, err := upper.Client.CoreV1().Pods(ns).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			return false, err.Error()
		}
		_, saved := got.Annotations[constraints.Annotation]
		return saved && len(got.Spec.NodeSelector) == 0, fmt.Sprintf("dry-run pod annotations %v nodeSelector %v", got.Annotations, got.Spec.NodeSelector)
	})
}

// deschedPolicy writes, into the test bed folder, the policy of
// manifests/descheduler/policy-demo.yaml limited to namespace ns, with the given
// grace period, exclusion TTL and cap, and no maxPendingTime.
func deschedPolicy(t *testing.T, name, ns string, grace, ttl time.Duration, maxRecreations int) string {
	return deschedPolicyPending(t, name, ns, grace, 0, ttl, maxRecreations)
}

// deschedPolicyPending is deschedPolicy with a maxPendingTime (0 disables it).
func deschedPolicyPending(t *testing.T, name, ns string, grace, maxPending, ttl time.Duration, maxRecreations int) string {
	doc := fmt.Sprintf(`apiVersion: descheduler/v1alpha2
kind: DeschedulerPolicy
maxNoOfPodsToEvictPerNode: 20
maxNoOfPodsToEvictPerNamespace: 20
maxNoOfPodsToEvictTotal: 50
profiles:
- name: tensile-virtual-nodes
  pluginConfig:
  - name: DefaultEvictor
    args:
      podProtections:
        defaultDisabled: ["PodsWithLocalStorage"]
      nodeFit: false
  - name: RecreateUnschedulable
    args:
      namespaces:
        include: [%q]
      unschedulableGracePeriod: %s
      maxPendingTime: %s
      exclusionTTL: %s
      maxRecreations: %d
  plugins:
    deschedule:
      enabled: ["RecreateUnschedulable"]
`, ns, grace, maxPending, ttl, maxRecreations)
	path := filepath.Join(testbed, "descheduler-"+name+".yaml")
	noErr(t, os.WriteFile(path, []byte(doc), 0o644))
	return path
}

// deschedRun runs the descheduler once, and fails the test if it skipped its cycle.
func deschedRun(t *testing.T, name, policy string, extra ...string) string {
	t.Helper()
	out := deschedExec(t, name, policy, extra...)
	if strings.Contains(out, "Skipping descheduling cycle") {
		t.Fatalf("descheduler %s skipped its cycle (log in %s)", name, filepath.Join(testbed, "logs"))
	}
	return out
}

// deschedExec runs the descheduler once (--descheduling-interval 0) against the upper
// cluster, keeps its output in the test bed's logs, and returns it. E2E_DESCHEDULER
// names another descheduler binary to run (e.g. an older build, to see a test fail on
// it); by default bin/descheduler.
func deschedExec(t *testing.T, name, policy string, extra ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := append([]string{"--kubeconfig", upper.Kubeconfig, "--policy-config-file", policy,
		"--descheduling-interval", "0", "--secure-port", "0", "--v", "2"}, extra...)
	start := time.Now()
	bin := filepath.Join(binDir, "descheduler")
	if v := os.Getenv("E2E_DESCHEDULER"); v != "" {
		bin = v
	}
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	logPath := filepath.Join(testbed, "logs", "descheduler-"+name+".log")
	_ = os.WriteFile(logPath, out, 0o644)
	if err != nil {
		t.Fatalf("descheduler %s: %v (log %s):\n%s", name, err, logPath, tail(logPath, 30))
	}
	t.Logf("descheduler run %q took %v", name, time.Since(start).Round(100*time.Millisecond))
	return string(out)
}

// deschedPodSpec is a virtual pod as its user writes it: a lower-cluster nodeSelector
// (the webhook moves it into the constraints annotation), a required `type In
// [virtual-kubelet]` (an ignored key: it stays upper and keeps the pod off the upper
// kwok worker), optionally a preferred virtual node, and a CPU request.
func deschedPodSpec(cpu string, selector map[string]string, prefer string) corev1.PodSpec {
	aff := &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
			{Key: "type", Operator: corev1.NodeSelectorOpIn, Values: []string{"virtual-kubelet"}},
		}}},
	}}
	if prefer != "" {
		aff.PreferredDuringSchedulingIgnoredDuringExecution = []corev1.PreferredSchedulingTerm{{Weight: 100,
			Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
				{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{prefer}},
			}}}}
	}
	return corev1.PodSpec{
		NodeSelector:                  selector,
		Affinity:                      &corev1.Affinity{NodeAffinity: aff},
		TerminationGracePeriodSeconds: ptr.To[int64](5),
		Containers: []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"sleep", "3600"},
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}}},
	}
}

// deschedDeployment is an upper Deployment of virtual pods (label virtual-pod=true).
func deschedDeployment(ns, name string, replicas int32, spec corev1.PodSpec) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: deschedLabels(name)}, Spec: spec},
		},
	}
}

func deschedLabels(app string) map[string]string {
	return map[string]string{"app": app, "virtual-pod": "true"}
}

// deschedFragmenter is a foreign Deployment of lower-a: one 2-CPU pod on each node.
func deschedFragmenter(ns string) *appsv1.Deployment {
	labels := map[string]string{"app": "fragment"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "fragment", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
						LabelSelector: &metav1.LabelSelector{MatchLabels: labels}, TopologyKey: corev1.LabelHostname,
					}}}},
					Containers: []corev1.Container{{Name: "c", Image: "busybox",
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}}},
				},
			},
		},
	}
}

// deschedStuck reports whether pod is bound to node and its lower cluster has reported
// it PodScheduled=False/Unschedulable for at least grace.
func deschedStuck(pod *corev1.Pod, node string, grace time.Duration) bool {
	if pod.Spec.NodeName != node || pod.Status.Phase != corev1.PodPending || pod.DeletionTimestamp != nil {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return time.Since(c.LastTransitionTime.Time) >= grace
		}
	}
	return false
}

// deschedExcludes reports whether every required node selector term of pod rejects node
// through kubernetes.io/hostname NotIn.
func deschedExcludes(pod *corev1.Pod, node string) bool {
	aff := pod.Spec.Affinity
	if aff == nil || aff.NodeAffinity == nil || aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return false
	}
	for _, term := range aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		if !slices.ContainsFunc(term.MatchExpressions, func(e corev1.NodeSelectorRequirement) bool {
			return e.Key == corev1.LabelHostname && e.Operator == corev1.NodeSelectorOpNotIn && slices.Contains(e.Values, node)
		}) {
			return false
		}
	}
	return true
}

// deschedLivePods lists the upper pods of ns matching selector that are not terminating.
func deschedLivePods(ctx context.Context, t *testing.T, ns, selector string) []corev1.Pod {
	pods := try(upper.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})).must(t)
	return slices.DeleteFunc(pods.Items, func(p corev1.Pod) bool { return p.DeletionTimestamp != nil })
}

// deschedWaitAllocatable waits until the virtual node's allocatable CPU is cpu.
func deschedWaitAllocatable(t *testing.T, node, cpu string) {
	eventually(t, 60*time.Second, node+" allocatable cpu "+cpu, func(ctx context.Context) (bool, string) {
		n, err := upper.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		got := n.Status.Allocatable[corev1.ResourceCPU]
		return got.Cmp(resource.MustParse(cpu)) == 0, "allocatable cpu " + got.String()
	})
}

// deschedCleanup deletes the namespace's Deployments and pods and waits until no pod is
// left above or below and the garbage collector has removed the PlacementExclusions.
func deschedCleanup(t *testing.T, ns string) {
	ctx := context.Background()
	fg := metav1.DeletePropagationForeground
	noErr(t, upper.Client.AppsV1().Deployments(ns).DeleteCollection(ctx, metav1.DeleteOptions{PropagationPolicy: &fg}, metav1.ListOptions{}))
	noErr(t, upper.Client.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}))
	eventually(t, 90*time.Second, "no pods above or below, no PlacementExclusions", func(ctx context.Context) (bool, string) {
		up := try(upper.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})).must(t)
		la := try(lowerA.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})).must(t)
		lb := try(lowerB.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})).must(t)
		recs := deschedRecords(ctx, t, ns)
		return len(up.Items)+len(la.Items)+len(lb.Items)+len(recs) == 0,
			fmt.Sprintf("upper %d, lower-a %d, lower-b %d pods, %d records", len(up.Items), len(la.Items), len(lb.Items), len(recs))
	})
}

// deschedRecords lists the PlacementExclusions of ns.
func deschedRecords(ctx context.Context, t *testing.T, ns string) []string {
	list := try(deschedTensile(t).TensileV1alpha1().PlacementExclusions(ns).List(ctx, metav1.ListOptions{})).must(t)
	var names []string
	for _, rec := range list.Items {
		names = append(names, rec.Name)
	}
	return names
}

// deschedRecord returns the named PlacementExclusion, or nil when there is none.
func deschedRecord(ctx context.Context, t *testing.T, ns, name string) *v1alpha1.PlacementExclusion {
	rec, err := deschedTensile(t).TensileV1alpha1().PlacementExclusions(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	noErr(t, err)
	return rec
}

// deschedLineage returns the lineage record of the bare pod; ok is false when it has
// none.
func deschedLineage(ctx context.Context, t *testing.T, pod *corev1.Pod) (placement.Lineage, bool) {
	return placement.LineageOf(deschedRecord(ctx, t, pod.Namespace, placement.LineageRecordName(pod.UID)), pod)
}

// deschedTensile returns a tensile.dev client of the upper cluster, built once (it is
// called inside polls).
func deschedTensile(t *testing.T) versioned.Interface {
	t.Helper()
	return try(deschedTensileClient()).must(t)
}

var deschedTensileClient = sync.OnceValues(func() (versioned.Interface, error) {
	return versioned.NewForConfig(upper.Config)
})

// deschedPodWatch follows the pods of a namespace through a watch, so that no
// transient state between two samples is missed.
type deschedPodWatch struct {
	mu                  sync.Mutex
	live                map[types.UID]bool // pod -> deletion started (or finished running)
	created, ended      sets.Set[types.UID]
	maxTotal, maxActive int
}

// deschedPodStats is what a deschedPodWatch saw since its last reset: pods created,
// pods whose deletion started, and the most pods alive at once (active: not deleting).
type deschedPodStats struct {
	created, ended, maxTotal, maxActive int
}

// deschedWatchPods starts watching the upper pods of ns until the test ends.
func deschedWatchPods(t *testing.T, ns string) *deschedPodWatch {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w := &deschedPodWatch{live: map[types.UID]bool{}, created: sets.New[types.UID](), ended: sets.New[types.UID]()}
	f := informers.NewSharedInformerFactoryWithOptions(upper.Client, 0, informers.WithNamespace(ns))
	inf := f.Core().V1().Pods().Informer()
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    w.observe,
		UpdateFunc: func(_, obj any) { w.observe(obj) },
		DeleteFunc: w.forget,
	})
	noErr(t, err)
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("pod watch did not sync")
	}
	w.reset()
	return w
}

func (w *deschedPodWatch) observe(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, known := w.live[pod.UID]; !known {
		w.created.Insert(pod.UID)
	}
	done := pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
	if done {
		w.ended.Insert(pod.UID)
	}
	w.live[pod.UID] = done
	w.measure()
}

func (w *deschedPodWatch) forget(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.live, pod.UID)
	w.ended.Insert(pod.UID)
}

// measure updates the maxima; w.mu is held.
func (w *deschedPodWatch) measure() {
	active := 0
	for _, done := range w.live {
		if !done {
			active++
		}
	}
	w.maxTotal = max(w.maxTotal, len(w.live))
	w.maxActive = max(w.maxActive, active)
}

// reset forgets what was seen so far: the counts start again from the current pods.
func (w *deschedPodWatch) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.created, w.ended = sets.New[types.UID](), sets.New[types.UID]()
	w.maxTotal, w.maxActive = 0, 0
	w.measure()
}

func (w *deschedPodWatch) stats() deschedPodStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return deschedPodStats{created: w.created.Len(), ended: w.ended.Len(), maxTotal: w.maxTotal, maxActive: w.maxActive}
}
