package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
	"github.com/tensile-kube/tensile/pkg/constraints"
)

const (
	// schedProfile is the multi-scheduler's profile in the shipped config.
	schedProfile = "multi-scheduler"
	// schedProviderTaint is the taint every virtual node carries.
	schedProviderTaint = "virtual-kubelet.io/provider"
	schedZoneKey       = "topology.kubernetes.io/zone"
)

// TestMultiScheduler proves the LowerClusterFit plugin end to end. vk-a joins lower-a
// (3 x 4 CPU) and vk-b joins lower-b (3 x 8 CPU); both publish ClusterSummaries, and the
// multi-scheduler built from this repository (shipped profile) places the pods. Pods
// that should go to vk-b prefer vk-a (a preferred node affinity that outweighs every
// default score), so each scenario fails if the plugin stops filtering.
func TestMultiScheduler(t *testing.T) {
	vkA := startVirtualNode(t, "vk-a", lowerA)
	vkB := startVirtualNode(t, "vk-b", lowerB)
	env := &schedEnv{dyn: try(dynamic.NewForConfig(upper.Config)).must(t)}
	env.sched = schedStart(t, "multi-scheduler", schedConfig(t, "multi-scheduler", nil))
	env.ns = createNamespace(t, upper, "sched")
	env.settle(t)
	zoneB := schedSaved(t, constraints.Constraints{NodeSelector: map[string]string{schedZoneKey: "zone-b"}})

	t.Run("a 6-CPU pod goes to vk-b, never vk-a", func(t *testing.T) {
		env.cleanupAfter(t)
		env.create(t, schedPod(env.ns, "six", "6", schedPrefer(vkA.Name)))
		if p := env.waitBound(t, "six"); p.Spec.NodeName != vkB.Name {
			t.Fatalf("6-CPU pod bound to %s, want %s: lower-a's nodes have 4 CPU", p.Spec.NodeName, vkB.Name)
		}
		waitPodRunning(t, lowerB, env.ns, "six", 60*time.Second)
	})

	t.Run("a 10-CPU pod waits with the reason, then schedules to vk-a when a 12-CPU node joins lower-a", func(t *testing.T) {
		env.cleanupAfter(t)
		env.create(t, schedPod(env.ns, "ten", "10"))
		p := env.waitRejected(t, "ten", vkA.Name+": ", vkB.Name+": ", "largest")
		t.Logf("rejection: %s", schedCondition(p).Message)

		big := env.addLowerNode(t, lowerA, "lower-a-big", "12", nil)
		// The summary change requeues the pod: well within the scheduler's 5-minute
		// flush of unschedulable pods, and nothing is restarted.
		if p := env.waitBound(t, "ten"); p.Spec.NodeName != vkA.Name {
			t.Fatalf("10-CPU pod bound to %s, want %s (only lower-a's new node fits)", p.Spec.NodeName, vkA.Name)
		}
		if _, low := waitPodRunning(t, lowerA, env.ns, "ten", 60*time.Second); low.Spec.NodeName != big {
			t.Errorf("lower pod runs on %s, want %s", low.Spec.NodeName, big)
		}
	})

	t.Run("a pod selecting lower-b's zone goes to vk-b", func(t *testing.T) {
		env.cleanupAfter(t)
		env.create(t, schedPod(env.ns, "zone-b", "1", schedPrefer(vkA.Name), zoneB))
		if p := env.waitBound(t, "zone-b"); p.Spec.NodeName != vkB.Name {
			t.Fatalf("zone-b pod bound to %s, want %s", p.Spec.NodeName, vkB.Name)
		}
		if _, low := waitPodRunning(t, lowerB, env.ns, "zone-b", 60*time.Second); low.Spec.NodeSelector[schedZoneKey] != "zone-b" {
			t.Errorf("lower pod's nodeSelector = %v, want the saved zone-b selector restored", low.Spec.NodeSelector)
		}
	})

	t.Run("a pod that does not tolerate the only lower node with room is not sent there", func(t *testing.T) {
		env.cleanupAfter(t)
		taint := corev1.Taint{Key: "dedicated", Value: "big", Effect: corev1.TaintEffectNoSchedule}
		tainted := env.addLowerNode(t, lowerA, "lower-a-tainted", "24", []corev1.Taint{taint})
		// A pod that tolerates the taint shows the scheduler sees the new node...
		env.create(t, schedPod(env.ns, "tolerant", "10", schedTolerate(taint)))
		if p := env.waitBound(t, "tolerant"); p.Spec.NodeName != vkA.Name {
			t.Fatalf("tolerant pod bound to %s, want %s", p.Spec.NodeName, vkA.Name)
		}
		if _, low := waitPodRunning(t, lowerA, env.ns, "tolerant", 60*time.Second); low.Spec.NodeName != tainted {
			t.Fatalf("tolerant pod runs on %s, want %s", low.Spec.NodeName, tainted)
		}
		env.waitSummary(t, vkA.Name, "the tainted node's 14 CPU left counted", func(st *v1alpha1.ClusterSummaryStatus) bool {
			for _, g := range st.Groups {
				if len(g.Taints) == 1 && g.Taints[0].Key == taint.Key && g.MaxFree[corev1.ResourceCPU] == 14000 {
					return true
				}
			}
			return false
		})
		// ...so a second one that does not, with 14 CPU free there, is turned away.
		env.create(t, schedPod(env.ns, "untolerant", "10"))
		p := env.waitRejected(t, "untolerant", vkA.Name+": ", vkB.Name+": ")
		t.Logf("rejection: %s", schedCondition(p).Message)
	})

	t.Run("a burst of four 6-CPU pods for lower-b's three 8-CPU nodes: three go to vk-b, the fourth waits", func(t *testing.T) {
		env.cleanupAfter(t)
		names := []string{"burst-0", "burst-1", "burst-2", "burst-3"}
		errs := make(chan error, len(names))
		for _, n := range names {
			go func() {
				_, err := upper.Client.CoreV1().Pods(env.ns).Create(context.Background(), schedPod(env.ns, n, "6", zoneB), metav1.CreateOptions{})
				errs <- err
			}()
		}
		for range names {
			noErr(t, <-errs)
		}
		var waiting string
		eventually(t, 90*time.Second, "three burst pods Running on vk-b and one Unschedulable", func(ctx context.Context) (bool, string) {
			running, pending := 0, []string{}
			for _, n := range names {
				p, err := upper.Client.CoreV1().Pods(env.ns).Get(ctx, n, metav1.GetOptions{})
				if err != nil {
					return false, err.Error()
				}
				switch c := schedCondition(p); {
				case p.Spec.NodeName == vkB.Name && p.Status.Phase == corev1.PodRunning:
					running++
				case p.Spec.NodeName == "" && c != nil && c.Reason == corev1.PodReasonUnschedulable &&
					strings.Contains(c.Message, vkB.Name+": ") && strings.Contains(c.Message, "largest"):
					pending = append(pending, n)
				}
			}
			if len(pending) == 1 {
				waiting = pending[0]
			}
			return running == 3 && len(pending) == 1, fmt.Sprintf("%d running on %s, unschedulable %v", running, vkB.Name, pending)
		})

		// Once a summary counts the three pods, the reservations give way to it:
		// neither released early (a 6-CPU probe still fits nowhere) nor counted twice
		// (a 2-CPU probe fits the 2 CPU each node has left).
		env.waitCounted(t, vkB.Name, names)
		env.create(t, schedPod(env.ns, "probe-6", "6", zoneB))
		env.waitRejected(t, "probe-6", vkB.Name+": ", "largest")
		env.create(t, schedPod(env.ns, "probe-2", "2", zoneB))
		if p := env.waitBound(t, "probe-2"); p.Spec.NodeName != vkB.Name {
			t.Fatalf("2-CPU probe bound to %s, want %s", p.Spec.NodeName, vkB.Name)
		}
		waitPodRunning(t, lowerB, env.ns, "probe-2", 60*time.Second)

		p := try(upper.Client.CoreV1().Pods(env.ns).Get(context.Background(), waiting, metav1.GetOptions{})).must(t)
		if p.Spec.NodeName != "" {
			t.Fatalf("the fourth burst pod %s was bound to %s", waiting, p.Spec.NodeName)
		}
		lows := try(lowerB.Client.CoreV1().Pods(env.ns).List(context.Background(), metav1.ListOptions{})).must(t)
		burst := 0
		for _, l := range lows.Items {
			if strings.HasPrefix(l.Name, "burst-") {
				burst++
			}
			if c := schedCondition(&l); c != nil && c.Status == corev1.ConditionFalse {
				t.Errorf("lower pod %s is unschedulable in lower-b: %s", l.Name, c.Message)
			}
		}
		if burst != 3 {
			t.Errorf("lower-b holds %d burst pods, want 3", burst)
		}
	})
}

// schedEnv is the shared setup of TestMultiScheduler.
type schedEnv struct {
	ns    string
	dyn   dynamic.Interface
	sched *schedProcess
}

func (e *schedEnv) create(t testing.TB, p *corev1.Pod) {
	t.Helper()
	try(upper.Client.CoreV1().Pods(e.ns).Create(context.Background(), p, metav1.CreateOptions{})).must(t)
}

// cleanupAfter deletes the scenario's pods when it ends and waits until the summaries
// count none of them.
func (e *schedEnv) cleanupAfter(t testing.TB) {
	t.Cleanup(func() {
		e.clearPods(t)
		e.settle(t)
	})
}

// clearPods deletes every pod of the namespace and waits until none is left above or
// below.
func (e *schedEnv) clearPods(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	noErr(t, upper.Client.CoreV1().Pods(e.ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}))
	eventually(t, 90*time.Second, "no pods left above or below", func(ctx context.Context) (bool, string) {
		for _, c := range []*Cluster{upper, lowerA, lowerB} {
			pods, err := c.Client.CoreV1().Pods(e.ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err.Error()
			}
			if n := len(pods.Items); n > 0 {
				return false, fmt.Sprintf("%s has %d pods", c.Name, n)
			}
		}
		return true, ""
	})
}

// settle waits until vk-a's and vk-b's summaries describe idle lower clusters of three
// nodes: no CPU requested, so every scenario starts from the test bed's shapes.
func (e *schedEnv) settle(t testing.TB) {
	t.Helper()
	for _, vk := range []string{"vk-a", "vk-b"} {
		e.waitSummary(t, vk, "3 nodes and no CPU requested", func(st *v1alpha1.ClusterSummaryStatus) bool {
			return st.NodeCount == 3 && st.SchedulableNodeCount == 3 && st.Totals.Requested[corev1.ResourceCPU] == 0
		})
	}
}

// summary reads a virtual node's ClusterSummary.
func (e *schedEnv) summary(ctx context.Context, name string) (*v1alpha1.ClusterSummary, error) {
	u, err := e.dyn.Resource(v1alpha1.ClusterSummaryGVR).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	cs := &v1alpha1.ClusterSummary{}
	return cs, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, cs)
}

func (e *schedEnv) waitSummary(t testing.TB, vk, what string, ok func(*v1alpha1.ClusterSummaryStatus) bool) {
	t.Helper()
	eventually(t, 60*time.Second, vk+" summary: "+what, func(ctx context.Context) (bool, string) {
		cs, err := e.summary(ctx, vk)
		if err != nil {
			return false, err.Error()
		}
		st := &cs.Status
		return ok(st), fmt.Sprintf("nodes %d (schedulable %d), requested %v, groups %d",
			st.NodeCount, st.SchedulableNodeCount, st.Totals.Requested, len(st.Groups))
	})
}

// waitCounted waits until vk's summary was built more than a second after each of the
// pods was scheduled below (their reflected PodScheduled time): the point at which
// the plugin trusts the summary to count them and drops their reservations.
func (e *schedEnv) waitCounted(t testing.TB, vk string, names []string) {
	t.Helper()
	eventually(t, 60*time.Second, vk+" summary newer than the placements below", func(ctx context.Context) (bool, string) {
		var placed time.Time
		for _, n := range names {
			p, err := upper.Client.CoreV1().Pods(e.ns).Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			if c := schedCondition(p); p.Spec.NodeName == vk && c != nil && c.LastTransitionTime.After(placed) {
				placed = c.LastTransitionTime.Time
			}
		}
		cs, err := e.summary(ctx, vk)
		if err != nil {
			return false, err.Error()
		}
		return cs.Status.UpdateTime.After(placed.Add(time.Second)), fmt.Sprintf("summary %s, last placement %s", cs.Status.UpdateTime.Format(time.RFC3339Nano), placed)
	})
}

// waitBound waits until the pod is bound and returns it.
func (e *schedEnv) waitBound(t testing.TB, name string) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	eventually(t, 60*time.Second, "pod "+name+" bound", func(ctx context.Context) (bool, string) {
		p, err := upper.Client.CoreV1().Pods(e.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		pod = p
		if c := schedCondition(p); c != nil {
			return p.Spec.NodeName != "", c.Message
		}
		return p.Spec.NodeName != "", "no PodScheduled condition"
	})
	return pod
}

// waitRejected waits until the scheduler reports the pod Unschedulable with a message
// containing every part, and fails at once if the pod is bound.
func (e *schedEnv) waitRejected(t testing.TB, name string, parts ...string) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	eventually(t, 60*time.Second, fmt.Sprintf("pod %s Unschedulable with %q", name, parts), func(ctx context.Context) (bool, string) {
		p, err := upper.Client.CoreV1().Pods(e.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		if p.Spec.NodeName != "" {
			t.Fatalf("pod %s was bound to %s; it should have been turned away", name, p.Spec.NodeName)
		}
		pod = p
		c := schedCondition(p)
		if c == nil || c.Reason != corev1.PodReasonUnschedulable {
			return false, fmt.Sprintf("condition %v", c)
		}
		for _, part := range parts {
			if !strings.Contains(c.Message, part) {
				return false, c.Message
			}
		}
		return true, ""
	})
	return pod
}

// addLowerNode adds a KWOK node to lower c, shaped and labelled like the test bed's
// first node but with cpu CPUs and taints, and returns its name. When the test ends
// it deletes the namespace's pods, then the node, and waits for the summaries to
// settle.
func (e *schedEnv) addLowerNode(t testing.TB, c *Cluster, name, cpu string, taints []corev1.Taint) string {
	t.Helper()
	ctx := context.Background()
	tmpl := try(c.Client.CoreV1().Nodes().Get(ctx, c.Name+"-node-0", metav1.GetOptions{})).must(t)
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}, Annotations: map[string]string{}},
		Spec:       corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{
			Allocatable: tmpl.Status.Allocatable.DeepCopy(),
			Capacity:    tmpl.Status.Capacity.DeepCopy(),
			NodeInfo:    tmpl.Status.NodeInfo,
		},
	}
	for k, v := range tmpl.Labels {
		node.Labels[k] = v
	}
	node.Labels[corev1.LabelHostname] = name
	for _, k := range []string{"kwok.x-k8s.io/node", "node.alpha.kubernetes.io/ttl"} {
		node.Annotations[k] = tmpl.Annotations[k]
	}
	node.Status.Allocatable[corev1.ResourceCPU] = resource.MustParse(cpu)
	node.Status.Capacity[corev1.ResourceCPU] = resource.MustParse(cpu)
	try(c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})).must(t)
	t.Cleanup(func() {
		e.clearPods(t)
		noErr(t, c.Client.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}))
		e.settle(t)
	})
	return name
}

// schedCondition returns the pod's PodScheduled condition.
func schedCondition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodScheduled {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// schedPod is a pod for the multi-scheduler requesting cpu CPUs: it selects and
// tolerates virtual nodes only, so it never lands on the upper KWOK worker.
func schedPod(ns, name, cpu string, opts ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			SchedulerName:                 schedProfile,
			NodeSelector:                  map[string]string{"type": "virtual-kubelet"},
			Tolerations:                   []corev1.Toleration{{Key: schedProviderTaint, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			Containers: []corev1.Container{{
				Name: "c", Image: "busybox:1.27", Command: []string{"sleep", "3600"},
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}},
			}},
		},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

// schedPrefer makes the pod prefer node (weight 100): without the plugin's Filter the
// default scores would send it there.
func schedPrefer(node string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{
				Weight: 100,
				Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{
					Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{node},
				}}},
			}},
		}}
	}
}

// schedSaved stores c as the lower constraints, the way the webhook would.
func schedSaved(t testing.TB, c constraints.Constraints) func(*corev1.Pod) {
	return func(p *corev1.Pod) { noErr(t, constraints.Save(p, &c)) }
}

// schedTolerate adds a toleration of taint to the pod's own spec.
func schedTolerate(taint corev1.Taint) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{
			Key: taint.Key, Operator: corev1.TolerationOpEqual, Value: taint.Value, Effect: taint.Effect,
		})
	}
}

// schedConfig writes the shipped multi-scheduler config for a local run into the test
// bed folder and returns its path: the upper cluster's kubeconfig as clientConnection
// (kube-scheduler ignores --kubeconfig when --config is given) and leader election
// off. edit, if not nil, changes the decoded document before it is written.
func schedConfig(t testing.TB, name string, edit func(cfg map[string]any)) string {
	t.Helper()
	var cfg map[string]any
	noErr(t, yaml.Unmarshal(try(os.ReadFile(filepath.Join(repoRoot, "manifests", "multi-scheduler", "config.yaml"))).must(t), &cfg))
	cfg["leaderElection"] = map[string]any{"leaderElect": false}
	cfg["clientConnection"] = map[string]any{"kubeconfig": upper.Kubeconfig}
	if edit != nil {
		edit(cfg)
	}
	path := filepath.Join(testbed, name+".yaml")
	noErr(t, os.WriteFile(path, try(yaml.Marshal(cfg)).must(t), 0o644))
	return path
}

// schedProcess is a running multi-scheduler and its HTTPS endpoint.
type schedProcess struct {
	*Process
	url    string
	client *http.Client
}

// schedStart starts bin/multi-scheduler with config, serving on a free loopback port
// where health, metrics and pprof need no credentials, and waits until it is ready
// (its informers have synced). SCHED_V sets its log verbosity (default 2; 5 shows
// the queueing decisions).
func schedStart(t testing.TB, name, config string) *schedProcess {
	t.Helper()
	port := freePort(t)
	s := &schedProcess{
		url: fmt.Sprintf("https://127.0.0.1:%d", port),
		// Self-signed serving certificate on loopback.
		client: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}},
	}
	s.Process = startProcess(t, name, "multi-scheduler", "--config", config,
		"--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(port),
		"--authorization-always-allow-paths", "/healthz,/readyz,/livez,/metrics,/debug/pprof/*", "--v", envOr("SCHED_V", "2"))
	eventually(t, 60*time.Second, name+" ready", func(ctx context.Context) (bool, string) {
		body, err := s.get(ctx, "/readyz")
		return err == nil && body == "ok", fmt.Sprint(body, err)
	})
	return s
}

// get fetches path from the scheduler's endpoint.
func (s *schedProcess) get(ctx context.Context, path string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+path, nil)
	if err != nil {
		return "", err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return string(b), nil
}
