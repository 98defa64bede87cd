package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/tensile-kube/tensile/pkg/constraints"
	"github.com/tensile-kube/tensile/pkg/placement"
)

// TestUserAnnotations checks issue #11 item 6: annotations a pod's author can write
// decide nothing they should not. The webhook and the descheduler run as in
// TestDescheduler; the test's client, like the descheduler here, is not one of the
// webhook's trusted users.
func TestUserAnnotations(t *testing.T) {
	startVirtualNode(t, "vk-a", lowerA)
	startVirtualNode(t, "vk-b", lowerB)
	ns := createNamespace(t, upper, "annot")
	startWebhook(t, ns)

	t.Run("a bare pod whose author resets its counter is still capped", func(t *testing.T) {
		annotResetCounter(t, ns)
	})
	t.Run("user-supplied tensile.dev annotations are dropped at creation", func(t *testing.T) {
		annotDropped(t, ns)
	})
	t.Run("original-name naming another pod does not name the replacement", func(t *testing.T) {
		annotOriginalName(t, ns)
	})
}

// annotResetCounter moves a bare pod no lower node fits once (cap 1); its author then
// sets tensile.dev/recreations to 0 and deletes tensile.dev/original-name, as a user
// wanting another try would. The next run must leave it with RecreationLimitReached.
func annotResetCounter(t *testing.T, ns string) {
	ctx := context.Background()
	t.Cleanup(func() { deschedCleanup(t, ns) })
	policy := deschedPolicy(t, "annot-reset", ns, deschedGrace, 5*time.Minute, 1)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "reset", Namespace: ns, Labels: deschedLabels("reset")},
		Spec:       deschedPodSpec("10", map[string]string{corev1.LabelOSStable: "linux"}, ""),
	}
	try(upper.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})).must(t)
	deschedWaitBareStuck(t, ns, "reset")
	deschedRun(t, "annot-reset-1", policy)
	repl := annotWaitStuck(t, ns, "reset-r1")
	if lin, ok := deschedLineage(ctx, t, repl); !ok || lin.Recreations != 1 || lin.Original != "reset" {
		t.Fatalf("lineage of reset-r1: %+v (found %v), want 1 re-creation of reset", lin, ok)
	}
	// The replacement keeps the constraints the webhook saved on the original (sealed).
	if saved, _, err := constraints.Load(repl); err != nil || saved == nil || saved.NodeSelector[corev1.LabelOSStable] != "linux" {
		t.Errorf("reset-r1 saved constraints %+v (%v), want the original's kubernetes.io/os=linux", saved, err)
	}

	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"0",%q:null,%q:null}}}`,
		placement.RecreationsAnnotation, placement.OriginalNameAnnotation, placement.ExclusionsAnnotation)
	try(upper.Client.CoreV1().Pods(ns).Patch(ctx, "reset-r1", types.MergePatchType, []byte(patch), metav1.PatchOptions{})).must(t)
	deschedRun(t, "annot-reset-2", policy)
	eventually(t, 15*time.Second, "RecreationLimitReached Event on reset-r1", func(ctx context.Context) (bool, string) {
		ev, err := findEvent(ctx, upper, ns, "reset-r1", "RecreationLimitReached", deschedReporter)
		return ev != nil && strings.Contains(ev.Message, "cap 1") && strings.Contains(ev.Message, "delete reset-r1"), fmt.Sprintf("%v %v", ev, err)
	})
	now := try(upper.Client.CoreV1().Pods(ns).Get(ctx, "reset-r1", metav1.GetOptions{})).must(t)
	if pods := deschedLivePods(ctx, t, ns, "app=reset"); now.UID != repl.UID || now.DeletionTimestamp != nil || len(pods) != 1 {
		var names []string
		for _, p := range pods {
			names = append(names, p.Name)
		}
		t.Errorf("after the reset: reset-r1 uid %s->%s deleting %v, live pods %v; want it left alone", repl.UID, now.UID, now.DeletionTimestamp != nil, names)
	}
}

// annotDropped creates a pod carrying every tensile.dev annotation a component reads:
// the webhook must drop them, save the constraints of the spec instead, and say so in
// an admission warning.
func annotDropped(t *testing.T, ns string) {
	ctx := context.Background()
	t.Cleanup(func() { deschedCleanup(t, ns) })
	forged := map[string]string{
		constraints.Annotation:           `{"nodeSelector":{"tensile.dev/e2e-pool":"none"},"tolerations":[{"operator":"Exists"}]}`,
		placement.ExclusionsAnnotation:   `[{"node":"vk-b","expiresAt":"2999-01-01T00:00:00Z"}]`,
		placement.RecreationsAnnotation:  "0",
		placement.OriginalNameAnnotation: "victim",
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "forged", Namespace: ns, Labels: deschedLabels("forged"), Annotations: forged},
		Spec:       deschedPodSpec("100m", map[string]string{corev1.LabelOSStable: "linux"}, ""),
	}
	warnings := &annotWarnings{}
	cfg := rest.CopyConfig(upper.Config)
	cfg.WarningHandler = warnings
	client := try(kubernetes.NewForConfig(cfg)).must(t)
	got := try(client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})).must(t)

	saved, _, err := constraints.Load(got)
	want := &constraints.Constraints{NodeSelector: map[string]string{corev1.LabelOSStable: "linux"}}
	if err != nil || saved == nil || saved.NodeSelector[corev1.LabelOSStable] != "linux" || len(saved.NodeSelector) != 1 ||
		slices.ContainsFunc(saved.Tolerations, func(tol corev1.Toleration) bool { return tol.Key == "" }) {
		raw, _ := json.Marshal(saved)
		t.Errorf("saved constraints %s (%v), want the spec's %+v, not the supplied ones", raw, err, want)
	}
	for _, k := range []string{placement.ExclusionsAnnotation, placement.RecreationsAnnotation, placement.OriginalNameAnnotation} {
		if v, ok := got.Annotations[k]; ok {
			t.Errorf("annotation %s=%q kept", k, v)
		}
	}
	w := warnings.String()
	for k := range forged {
		if !strings.Contains(w, k) {
			t.Errorf("admission warnings %q do not name %s", w, k)
		}
	}
	// The pod runs below with the constraints of its spec, not the forged pool.
	_, low := waitPodRunning(t, annotLowerOf(ctx, t, ns, "forged"), ns, "forged", 60*time.Second)
	if low.Spec.NodeSelector[corev1.LabelOSStable] != "linux" || low.Spec.NodeSelector["tensile.dev/e2e-pool"] != "" {
		t.Errorf("lower pod nodeSelector %v, want kubernetes.io/os=linux only", low.Spec.NodeSelector)
	}
}

// annotWaitStuck waits until the bare pod is stuck on a virtual node past the grace
// period (whatever its exclusions) and returns it.
func annotWaitStuck(t *testing.T, ns, name string) *corev1.Pod {
	var pod *corev1.Pod
	eventually(t, 60*time.Second, name+" unschedulable below", func(ctx context.Context) (bool, string) {
		var err error
		if pod, err = upper.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
			return false, err.Error()
		}
		return pod.Spec.NodeName != "" && deschedStuck(pod, pod.Spec.NodeName, deschedGrace),
			fmt.Sprintf("node %q conditions %v", pod.Spec.NodeName, pod.Status.Conditions)
	})
	return pod
}

// annotLowerOf waits until the upper pod is bound and returns the lower cluster of its
// virtual node.
func annotLowerOf(ctx context.Context, t *testing.T, ns, name string) *Cluster {
	var node string
	eventually(t, 60*time.Second, name+" bound to a virtual node", func(ctx context.Context) (bool, string) {
		p, err := upper.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		node = p.Spec.NodeName
		return node == "vk-a" || node == "vk-b", "on " + node
	})
	if node == "vk-a" {
		return lowerA
	}
	return lowerB
}

// annotOriginalName: a victim's bare pod runs; another bare pod, stuck, is annotated
// (after creation, past the webhook) with tensile.dev/original-name naming the victim
// and a count of 0. Its replacement must be named after itself: no pod victim-r1 may
// appear, and the victim is untouched.
func annotOriginalName(t *testing.T, ns string) {
	ctx := context.Background()
	t.Cleanup(func() { deschedCleanup(t, ns) })
	victim := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "victim", Namespace: ns, Labels: deschedLabels("victim")},
		Spec:       deschedPodSpec("100m", map[string]string{corev1.LabelOSStable: "linux"}, ""),
	}
	victim = try(upper.Client.CoreV1().Pods(ns).Create(ctx, victim, metav1.CreateOptions{})).must(t)
	attacker := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "attacker", Namespace: ns, Labels: deschedLabels("attacker")},
		Spec:       deschedPodSpec("10", map[string]string{corev1.LabelOSStable: "linux"}, ""),
	}
	try(upper.Client.CoreV1().Pods(ns).Create(ctx, attacker, metav1.CreateOptions{})).must(t)
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"victim",%q:"0"}}}`, placement.OriginalNameAnnotation, placement.RecreationsAnnotation)
	try(upper.Client.CoreV1().Pods(ns).Patch(ctx, "attacker", types.MergePatchType, []byte(patch), metav1.PatchOptions{})).must(t)
	deschedWaitBareStuck(t, ns, "attacker")

	deschedRun(t, "annot-original", deschedPolicy(t, "annot-original", ns, deschedGrace, 5*time.Minute, 3))
	eventually(t, 30*time.Second, "attacker re-created as attacker-r1", func(ctx context.Context) (bool, string) {
		_, err := upper.Client.CoreV1().Pods(ns).Get(ctx, "attacker-r1", metav1.GetOptions{})
		return err == nil, fmt.Sprintf("attacker-r1: %v", err)
	})
	if _, err := upper.Client.CoreV1().Pods(ns).Get(ctx, "victim-r1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("victim-r1: %v, want NotFound: the attacker's annotation named the replacement", err)
	}
	now := try(upper.Client.CoreV1().Pods(ns).Get(ctx, "victim", metav1.GetOptions{})).must(t)
	if now.UID != victim.UID || now.DeletionTimestamp != nil {
		t.Errorf("victim touched: uid %s->%s deleting %v", victim.UID, now.UID, now.DeletionTimestamp != nil)
	}
	if ev, err := findEvent(ctx, upper, ns, "attacker", "AnnotationIgnored", deschedReporter); ev == nil || !strings.Contains(ev.Message, "victim") {
		t.Errorf("no AnnotationIgnored Event naming victim on attacker: %v %v", ev, err)
	}
}

// annotWarnings collects the API server's warnings to one client.
type annotWarnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *annotWarnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

func (w *annotWarnings) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.msgs, "\n")
}
