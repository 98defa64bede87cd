package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

const ownerLabel = "tensile.dev/virtual-node"

// TestSeedWalkthrough reproduces the source document's walkthrough: a lower cluster joins
// as vk-node, and the workload (ConfigMap, Secret, local PV/PVC, busybox pod) runs below.
func TestSeedWalkthrough(t *testing.T) {
	ctx := context.Background()
	vn := startVirtualNode(t, "vk-node", lowerA)
	walk := filepath.Join(repoRoot, "examples", "walkthrough")
	applyFile(t, lowerA, filepath.Join(walk, "lower-pv.yaml"), "NODE", "lower-a-node-0")
	t.Cleanup(func() {
		for _, c := range []*Cluster{upper, lowerA} {
			_ = c.Client.CoreV1().PersistentVolumes().Delete(context.Background(), "vk-demo", metav1.DeleteOptions{})
		}
	})
	ns := createNamespace(t, upper, "seed")
	applyNamespaced(t, upper, ns, filepath.Join(walk, "workload.yaml"))

	t.Run("node is Ready with the lower version, labels, taint and capacity", func(t *testing.T) {
		lowerVersion, err := lowerA.Client.Discovery().ServerVersion()
		if err != nil {
			t.Fatal(err)
		}
		n := waitNodeReady(t, vn.Name, corev1.ConditionTrue, 10*time.Second)
		if n.Status.NodeInfo.KubeletVersion != lowerVersion.GitVersion {
			t.Errorf("kubeletVersion = %q, want the lower cluster's %q", n.Status.NodeInfo.KubeletVersion, lowerVersion.GitVersion)
		}
		for k, v := range map[string]string{"type": "virtual-kubelet", "kubernetes.io/role": "agent", "kubernetes.io/hostname": vn.Name,
			"node.kubernetes.io/exclude-from-external-load-balancers": "true", "kubernetes.io/os": "linux"} {
			if n.Labels[k] != v {
				t.Errorf("label %s = %q, want %q", k, n.Labels[k], v)
			}
		}
		if len(n.Spec.Taints) != 1 || n.Spec.Taints[0].Key != "virtual-kubelet.io/provider" || n.Spec.Taints[0].Effect != corev1.TaintEffectNoSchedule {
			t.Errorf("taints = %v, want the provider taint", n.Spec.Taints)
		}
		// lower-a: 3 nodes x (4 CPU, 110 pods); the virtual node's own pods do not count.
		eventually(t, 20*time.Second, "allocatable = lower aggregate minus foreign requests", func(ctx context.Context) (bool, string) {
			n, err := upper.Client.CoreV1().Nodes().Get(ctx, vn.Name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			want := resource.MustParse("12")
			want.Sub(foreignCPU(ctx, t, lowerA, vn.Name))
			got := n.Status.Allocatable[corev1.ResourceCPU]
			return got.Cmp(want) == 0 && n.Status.Allocatable.Pods().Value() > 0,
				fmt.Sprintf("allocatable cpu %s, want %s; pods %s", got.String(), want.String(), n.Status.Allocatable.Pods())
		})
	})

	t.Run("dependencies exist below and the pod runs in both clusters with one IP", func(t *testing.T) {
		up, low := waitPodRunning(t, lowerA, ns, "vk-demo", 60*time.Second)
		if up.Spec.NodeName != vn.Name {
			t.Errorf("upper pod on %q, want %q", up.Spec.NodeName, vn.Name)
		}
		if low.Spec.NodeName != "lower-a-node-0" {
			t.Errorf("lower pod on %q, want lower-a-node-0 (where the local PV is)", low.Spec.NodeName)
		}
		if up.Status.PodIP == "" || up.Status.PodIP != low.Status.PodIP {
			t.Errorf("pod IPs differ: upper %q, lower %q", up.Status.PodIP, low.Status.PodIP)
		}
		if low.Labels[ownerLabel] != vn.Name || low.Annotations["tensile.dev/upper-uid"] != string(up.UID) {
			t.Errorf("lower pod lacks ownership marks: %v %v", low.Labels, low.Annotations)
		}
		if low.Spec.NodeSelector["type"] != "" {
			t.Errorf("lower pod kept the virtual-node selector: %v", low.Spec.NodeSelector)
		}
		cm, err := lowerA.Client.CoreV1().ConfigMaps(ns).Get(ctx, "myconfigmap", metav1.GetOptions{})
		if err != nil || cm.Data["username"] != "vk-demo" {
			t.Errorf("lower ConfigMap: %v %v", cm, err)
		}
		sec, err := lowerA.Client.CoreV1().Secrets(ns).Get(ctx, "mysecret", metav1.GetOptions{})
		if err != nil || string(sec.Data["USER_NAME"]) != "admin" {
			t.Errorf("lower Secret: %v %v", sec, err)
		}
		eventually(t, 20*time.Second, "lower PVC Bound to the pre-provisioned PV", func(ctx context.Context) (bool, string) {
			pvc, err := lowerA.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "vk-demo", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return pvc.Status.Phase == corev1.ClaimBound && pvc.Spec.VolumeName == "vk-demo", string(pvc.Status.Phase)
		})
	})

	t.Run("lower events are reflected on the upper pod", func(t *testing.T) {
		eventually(t, 20*time.Second, "Scheduled event from below", func(ctx context.Context) (bool, string) {
			ev, err := findEvent(ctx, upper, ns, "vk-demo", "Scheduled", "virtual-node")
			if err != nil {
				return false, err.Error()
			}
			return ev != nil && strings.Contains(ev.Message, "lower-a-node-0"), fmt.Sprintf("%v", ev)
		})
	})
}

// foreignCPU sums the CPU requests of running lower pods that the virtual node did not create.
func foreignCPU(ctx context.Context, t testing.TB, c *Cluster, vnode string) resource.Quantity {
	pods, err := c.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var sum resource.Quantity
	for _, p := range pods.Items {
		if p.Labels[ownerLabel] == vnode || p.Spec.NodeName == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		for _, ctr := range p.Spec.Containers {
			sum.Add(*ctr.Resources.Requests.Cpu())
		}
	}
	return sum
}

// TestPodLifecycle covers what happens to a running pod: updates, dependency changes,
// out-of-band deletion below, name collisions with foreign pods, and deletion.
func TestPodLifecycle(t *testing.T) {
	ctx := context.Background()
	vn := startVirtualNode(t, "vk-life", lowerA)
	ns := createNamespace(t, upper, "life")

	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "conf", Namespace: ns}, Data: map[string]string{"k": "v1"}}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: ns}, Data: map[string][]byte{"p": []byte("s1")}}
	try(upper.Client.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{})).must(t)
	try(upper.Client.CoreV1().Secrets(ns).Create(ctx, sec, metav1.CreateOptions{})).must(t)
	pod := virtualPod(ns, "app", vn.Name)
	pod.Spec.Volumes = []corev1.Volume{{Name: "conf", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "conf"}}}}}
	pod.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}}}}
	try(upper.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})).must(t)
	waitPodRunning(t, lowerA, ns, "app", 30*time.Second)

	t.Run("label, annotation, image and activeDeadlineSeconds updates propagate", func(t *testing.T) {
		up := try(upper.Client.CoreV1().Pods(ns).Get(ctx, "app", metav1.GetOptions{})).must(t)
		up.Labels["tier"] = "gold"
		up.Annotations = map[string]string{"note": "hello"}
		up.Spec.Containers[0].Image = "busybox:1.36"
		up.Spec.ActiveDeadlineSeconds = ptr.To[int64](7200)
		try(upper.Client.CoreV1().Pods(ns).Update(ctx, up, metav1.UpdateOptions{})).must(t)
		eventually(t, 20*time.Second, "lower pod updated", func(ctx context.Context) (bool, string) {
			low, err := lowerA.Client.CoreV1().Pods(ns).Get(ctx, "app", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			ok := low.Labels["tier"] == "gold" && low.Annotations["note"] == "hello" &&
				low.Spec.Containers[0].Image == "busybox:1.36" && ptr.Deref(low.Spec.ActiveDeadlineSeconds, 0) == 7200
			return ok, fmt.Sprintf("labels %v annotations %v image %s", low.Labels, low.Annotations, low.Spec.Containers[0].Image)
		})
	})

	t.Run("ConfigMap and Secret changes reach the lower copies", func(t *testing.T) {
		cm := try(upper.Client.CoreV1().ConfigMaps(ns).Get(ctx, "conf", metav1.GetOptions{})).must(t)
		cm.Data["k"] = "v2"
		try(upper.Client.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{})).must(t)
		sec := try(upper.Client.CoreV1().Secrets(ns).Get(ctx, "creds", metav1.GetOptions{})).must(t)
		sec.Data["p"] = []byte("s2")
		try(upper.Client.CoreV1().Secrets(ns).Update(ctx, sec, metav1.UpdateOptions{})).must(t)
		eventually(t, 10*time.Second, "lower copies updated", func(ctx context.Context) (bool, string) {
			lcm, err1 := lowerA.Client.CoreV1().ConfigMaps(ns).Get(ctx, "conf", metav1.GetOptions{})
			lsec, err2 := lowerA.Client.CoreV1().Secrets(ns).Get(ctx, "creds", metav1.GetOptions{})
			if err1 != nil || err2 != nil {
				return false, fmt.Sprint(err1, err2)
			}
			return lcm.Data["k"] == "v2" && string(lsec.Data["p"]) == "s2", fmt.Sprintf("%v %s", lcm.Data, lsec.Data["p"])
		})
	})

	t.Run("a lower pod deleted out of band is re-created, with an event", func(t *testing.T) {
		old := try(lowerA.Client.CoreV1().Pods(ns).Get(ctx, "app", metav1.GetOptions{})).must(t)
		noErr(t, lowerA.Client.CoreV1().Pods(ns).Delete(ctx, "app", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}))
		eventually(t, 30*time.Second, "a new lower pod", func(ctx context.Context) (bool, string) {
			low, err := lowerA.Client.CoreV1().Pods(ns).Get(ctx, "app", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return low.UID != old.UID && low.Status.Phase == corev1.PodRunning, string(low.Status.Phase)
		})
		eventually(t, 10*time.Second, "LowerPodRecreated event", func(ctx context.Context) (bool, string) {
			ev, err := findEventWith(ctx, upper, ns, "app", "LowerPodRecreated", eventFilter{host: vn.Name})
			return err == nil && ev != nil, fmt.Sprint(err)
		})
	})

	t.Run("a foreign lower pod of the same name is left alone and the upper pod stays Pending", func(t *testing.T) {
		if _, err := lowerA.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
		foreign := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "clash", Namespace: ns, Labels: map[string]string{"owner": "someone-else"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
		}
		foreign = try(lowerA.Client.CoreV1().Pods(ns).Create(ctx, foreign, metav1.CreateOptions{})).must(t)
		try(upper.Client.CoreV1().Pods(ns).Create(ctx, virtualPod(ns, "clash", vn.Name), metav1.CreateOptions{})).must(t)
		eventually(t, 20*time.Second, "ForeignLowerPod event and a Pending upper pod with the reason", func(ctx context.Context) (bool, string) {
			up, err := upper.Client.CoreV1().Pods(ns).Get(ctx, "clash", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			ev, _ := findEventWith(ctx, upper, ns, "clash", "ForeignLowerPod", eventFilter{host: vn.Name})
			return ev != nil && up.Status.Phase == corev1.PodPending && up.Status.Reason == "ProviderFailed",
				fmt.Sprintf("phase %s reason %q message %q event %v", up.Status.Phase, up.Status.Reason, up.Status.Message, ev != nil)
		})
		// The kubelet API serves only the node's own lower pods: the foreign one's logs
		// (KWOK answers logs for every lower pod) must not show through the upper pod.
		if out, err := kubectl(t, upper, "-n", ns, "logs", "clash"); err == nil || strings.Contains(out, "tensile test bed") {
			t.Errorf("kubectl logs of the upper clash pod served the foreign lower pod's logs (err %v):\n%s", err, out)
		}
		time.Sleep(2 * time.Second) // retries must not touch it either
		now := try(lowerA.Client.CoreV1().Pods(ns).Get(ctx, "clash", metav1.GetOptions{})).must(t)
		// Its status moves on (KWOK runs it); what it is must not: same object, its labels
		// kept, no marks of ours, same containers.
		if now.UID != foreign.UID {
			t.Fatalf("foreign pod was replaced: UID %s -> %s", foreign.UID, now.UID)
		}
		// (The lower API server itself adds topology labels when it binds a pod.)
		for k, v := range foreign.Labels {
			if now.Labels[k] != v {
				t.Errorf("foreign pod label %s changed: %q -> %q", k, v, now.Labels[k])
			}
		}
		for _, m := range []map[string]string{now.Labels, now.Annotations} {
			for k := range m {
				if strings.HasPrefix(k, "tensile.dev/") {
					t.Errorf("foreign pod carries our mark %s", k)
				}
			}
		}
		if diff := cmp.Diff(foreign.Spec.Containers, now.Spec.Containers); diff != "" {
			t.Errorf("foreign pod containers changed (-before +after):\n%s", diff)
		}
		noErr(t, upper.Client.CoreV1().Pods(ns).Delete(ctx, "clash", metav1.DeleteOptions{}))
		waitGone(t, "upper clash pod", 20*time.Second, func(ctx context.Context) error {
			_, err := upper.Client.CoreV1().Pods(ns).Get(ctx, "clash", metav1.GetOptions{})
			return err
		})
		if _, err := lowerA.Client.CoreV1().Pods(ns).Get(ctx, "clash", metav1.GetOptions{}); err != nil {
			t.Fatalf("deleting the upper pod removed the foreign lower pod: %v", err)
		}
	})

	t.Run("deleting the upper pod deletes the lower pod, then the upper pod, then unused copies", func(t *testing.T) {
		start := time.Now()
		noErr(t, upper.Client.CoreV1().Pods(ns).Delete(ctx, "app", metav1.DeleteOptions{}))
		waitGone(t, "upper pod", 20*time.Second, func(ctx context.Context) error {
			_, err := upper.Client.CoreV1().Pods(ns).Get(ctx, "app", metav1.GetOptions{})
			return err
		})
		// With a 5s grace period, waiting for it would take >= 5s: the upper pod must go
		// as soon as the lower one is gone.
		if d := time.Since(start); d > 4*time.Second {
			t.Errorf("upper pod took %v to go; it should follow the lower pod, not the grace period", d)
		}
		if _, err := lowerA.Client.CoreV1().Pods(ns).Get(ctx, "app", metav1.GetOptions{}); err == nil {
			t.Errorf("lower pod still exists after the upper pod is gone")
		}
		waitGone(t, "lower ConfigMap copy", 20*time.Second, func(ctx context.Context) error {
			_, err := lowerA.Client.CoreV1().ConfigMaps(ns).Get(ctx, "conf", metav1.GetOptions{})
			return err
		})
		waitGone(t, "lower Secret copy", 20*time.Second, func(ctx context.Context) error {
			_, err := lowerA.Client.CoreV1().Secrets(ns).Get(ctx, "creds", metav1.GetOptions{})
			return err
		})
	})
}

func countOwned(ctx context.Context, t testing.TB, c *Cluster, ns, vnode string) int {
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: ownerLabel + "=" + vnode})
	if err != nil {
		t.Fatal(err)
	}
	return len(pods.Items)
}

func kwokctl(t testing.TB, args ...string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "kwokctl"), args...)
	cmd.Env = append(cmd.Environ(), "KWOK_WORKDIR="+filepath.Join(testbed, "kwok"), "HOME="+filepath.Join(testbed, "home"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kwokctl %v: %v\n%s", args, err, out)
	}
}

// tried holds a call's two results, so that try(f()).must(t) fails the test on error.
type tried[T any] struct {
	v   T
	err error
}

func try[T any](v T, err error) tried[T] { return tried[T]{v, err} }

// must returns the value and fails the test if the call failed.
func (r tried[T]) must(t testing.TB) T {
	t.Helper()
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.v
}

// noErr fails the test if err is not nil.
func noErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestLeaderElection runs two replicas of one virtual node: exactly one acts, and the
// other takes over when the leader dies.
func TestLeaderElection(t *testing.T) {
	ctx := context.Background()
	const name = "vk-ha"
	first := startVirtualNode(t, name, lowerA, "--leader-elect", "--leader-elect-lease-duration", "4s",
		"--leader-elect-renew-deadline", "3s", "--leader-elect-retry-period", "500ms")
	second := &VirtualNode{Name: name, Lower: lowerA}
	second.Process = startProcess(t, name+"-standby", "virtual-node", append(append([]string(nil), first.args...),
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--listen-address", fmt.Sprintf("127.0.0.1:%d", freePort(t)))...)

	holder := func(ctx context.Context) string {
		l, err := upper.Client.CoordinationV1().Leases("kube-node-lease").Get(ctx, "virtual-node-"+name, metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil {
			return ""
		}
		return *l.Spec.HolderIdentity
	}
	leader := holder(ctx)
	if leader == "" {
		t.Fatal("no leader holds the lease while the node is Ready")
	}
	ns := createNamespace(t, upper, "ha")
	try(upper.Client.CoreV1().Pods(ns).Create(ctx, virtualPod(ns, "before", name), metav1.CreateOptions{})).must(t)
	waitPodRunning(t, lowerA, ns, "before", 30*time.Second)
	// Only the leader acts: the standby's log shows it never started the node.
	if strings.Contains(tail(second.Log, 400), "Virtual node ready") {
		t.Fatalf("the standby started the node as well")
	}

	first.Stop(9)
	eventually(t, 30*time.Second, "the standby takes the lease", func(ctx context.Context) (bool, string) {
		h := holder(ctx)
		return h != "" && h != leader, "holder " + h
	})
	try(upper.Client.CoreV1().Pods(ns).Create(ctx, virtualPod(ns, "after", name), metav1.CreateOptions{})).must(t)
	waitPodRunning(t, lowerA, ns, "after", 60*time.Second)
	waitNodeReady(t, name, corev1.ConditionTrue, 30*time.Second)
	if n := countOwned(ctx, t, lowerA, ns, name); n != 2 {
		t.Fatalf("%d lower pods, want 2", n)
	}
}
