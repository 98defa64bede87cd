package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// freePort returns a free TCP port on 127.0.0.1.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// VirtualNode is a virtual-node process joined to the upper cluster.
type VirtualNode struct {
	*Process
	Name        string
	Lower       *Cluster
	MetricsAddr string
	KubeletAddr string
	// LogStart is the size of Log before this process wrote to it: the log is appended
	// to across runs on a kept test bed.
	LogStart int64
	args     []string
}

// startVirtualNode starts bin/virtual-node for lower, with the admin kubeconfigs and
// --approve-own-csr, and waits for its node to be Ready. The node object is deleted
// when the test ends.
func startVirtualNode(t testing.TB, name string, lower *Cluster, extra ...string) *VirtualNode {
	t.Helper()
	return startVirtualNodeWith(t, name, lower, vnodeAuth{upperKubeconfig: upper.Kubeconfig, lowerKubeconfig: lower.Kubeconfig, approveOwnCSR: true}, extra...)
}

// vnodeAuth is how a virtual node authenticates to both clusters, and whether it
// approves its own serving-certificate CSR.
type vnodeAuth struct {
	upperKubeconfig, lowerKubeconfig string
	approveOwnCSR                    bool
}

// startVirtualNodeWith is startVirtualNode with the credentials given by auth.
func startVirtualNodeWith(t testing.TB, name string, lower *Cluster, auth vnodeAuth, extra ...string) *VirtualNode {
	t.Helper()
	metrics := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	kubelet := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	args := []string{
		"--nodename", name,
		"--kubeconfig", auth.upperKubeconfig,
		"--client-kubeconfig", auth.lowerKubeconfig,
		"--metrics-bind-address", metrics,
		"--listen-address", kubelet,
	}
	if auth.approveOwnCSR {
		args = append(args, "--approve-own-csr")
	}
	args = append(append(args, "--v", "2"), extra...)
	t.Cleanup(func() {
		_ = upper.Client.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	var start int64
	if fi, err := os.Stat(filepath.Join(testbed, "logs", name+".log")); err == nil {
		start = fi.Size()
	}
	vn := &VirtualNode{Name: name, Lower: lower, MetricsAddr: metrics, KubeletAddr: kubelet, LogStart: start, args: args}
	vn.Process = startProcess(t, name, "virtual-node", args...)
	waitNodeReady(t, name, corev1.ConditionTrue, 60*time.Second)
	return vn
}

// restart starts the virtual node's process again with the same arguments.
func (v *VirtualNode) restart(t testing.TB) {
	t.Helper()
	v.Process = startProcess(t, v.Name, "virtual-node", v.args...)
}

func waitNodeReady(t testing.TB, name string, want corev1.ConditionStatus, timeout time.Duration) *corev1.Node {
	t.Helper()
	var node *corev1.Node
	eventually(t, timeout, fmt.Sprintf("node %s Ready=%s", name, want), func(ctx context.Context) (bool, string) {
		n, err := upper.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		node = n
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == want, fmt.Sprintf("Ready=%s (%s: %s)", c.Status, c.Reason, c.Message)
			}
		}
		return false, "no Ready condition"
	})
	return node
}

// virtualPod is a pod bound directly to a virtual node (no scheduler involved).
func virtualPod(ns, name, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			TerminationGracePeriodSeconds: ptr.To[int64](5),
			Tolerations:                   []corev1.Toleration{{Key: "virtual-kubelet.io/provider", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
			Containers: []corev1.Container{{
				Name: "c", Image: "busybox:1.27", Command: []string{"sleep", "3600"},
			}},
		},
	}
}

// waitPodRunning waits until the upper pod and its lower pod are Running, and returns both.
func waitPodRunning(t testing.TB, lower *Cluster, ns, name string, timeout time.Duration) (up, low *corev1.Pod) {
	t.Helper()
	eventually(t, timeout, fmt.Sprintf("pod %s/%s Running above and below", ns, name), func(ctx context.Context) (bool, string) {
		var err error
		if up, err = upper.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
			return false, "upper: " + err.Error()
		}
		if low, err = lower.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
			return false, "lower: " + err.Error()
		}
		return up.Status.Phase == corev1.PodRunning && low.Status.Phase == corev1.PodRunning,
			fmt.Sprintf("upper %s (%s), lower %s", up.Status.Phase, up.Status.Message, low.Status.Phase)
	})
	return up, low
}

func waitGone(t testing.TB, what string, timeout time.Duration, get func(ctx context.Context) error) {
	t.Helper()
	eventually(t, timeout, what+" gone", func(ctx context.Context) (bool, string) {
		err := get(ctx)
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		if err != nil {
			return false, err.Error()
		}
		return false, "still exists"
	})
}

// applyNamespaced applies a manifest into namespace ns.
func applyNamespaced(t testing.TB, c *Cluster, ns, path string) {
	t.Helper()
	if out, err := kubectl(t, c, "apply", "-n", ns, "-f", path); err != nil {
		t.Fatalf("kubectl apply -n %s %s: %v\n%s", ns, path, err, out)
	}
}

// applyFile applies a manifest with kubectl after replacing strings in it.
func applyFile(t testing.TB, c *Cluster, path string, replace ...string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.NewReplacer(replace...).Replace(string(b))
	cmd := exec.Command(filepath.Join(binDir, "kubectl"), "--kubeconfig", c.Kubeconfig, "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(doc)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply %s on %s: %v\n%s", path, c.Name, err, out)
	}
}

// findEvent returns an event about ns/name with reason, reported by component when
// component is not empty.
func findEvent(ctx context.Context, c *Cluster, ns, name, reason string, component ...string) (*corev1.Event, error) {
	var f eventFilter
	if len(component) > 0 {
		f.component = component[0]
	}
	return findEventWith(ctx, c, ns, name, reason, f)
}

// eventFilter narrows findEventWith; its zero fields match any event.
type eventFilter struct {
	// component is the reporting component (Source.Component or ReportingController).
	component string
	// host is the reporting host (Source.Host or ReportingInstance): a virtual node's
	// recorder reports as its node name (internal/virtualnode/run.go, eventRecorder).
	host string
	// since keeps only events last seen at or after it. Events live about an hour, so
	// on a kept test bed an earlier run's event can still be there.
	since time.Time
}

// findEventWith returns an event about ns/name with reason that f matches.
func findEventWith(ctx context.Context, c *Cluster, ns, name, reason string, f eventFilter) (*corev1.Event, error) {
	evs, err := c.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
	if err != nil {
		return nil, err
	}
	// The API keeps event timestamps to the second.
	since := f.since.Truncate(time.Second)
	for i := range evs.Items {
		e := &evs.Items[i]
		if e.Reason != reason {
			continue
		}
		if f.component != "" && e.Source.Component != f.component && e.ReportingController != f.component {
			continue
		}
		if f.host != "" && e.Source.Host != f.host && e.ReportingInstance != f.host {
			continue
		}
		if !f.since.IsZero() && eventLastSeen(e).Before(since) {
			continue
		}
		return e, nil
	}
	return nil, nil
}

// eventLastSeen is when an event last happened, whichever API wrote it.
func eventLastSeen(e *corev1.Event) time.Time {
	last := e.LastTimestamp.Time
	for _, t := range []time.Time{e.EventTime.Time, e.FirstTimestamp.Time} {
		if t.After(last) {
			last = t
		}
	}
	if e.Series != nil && e.Series.LastObservedTime.After(last) {
		last = e.Series.LastObservedTime.Time
	}
	return last
}

// portForwardEcho forwards a local port to the pod's 8080 with kubectl through the upper
// cluster and checks that bytes come back (the test bed's KWOK port-forward is an echo).
func portForwardEcho(t *testing.T, ns, pod string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "kubectl"), "--kubeconfig", upper.Kubeconfig, "-n", ns,
		"port-forward", "--address", "127.0.0.1", "pod/"+pod, ":8080")
	stdout := try(cmd.StdoutPipe()).must(t)
	noErr(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	addr := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			if m := regexp.MustCompile(`Forwarding from (127\.0\.0\.1:\d+)`).FindStringSubmatch(s.Text()); m != nil {
				addr <- m[1]
				return
			}
		}
	}()
	var local string
	select {
	case local = <-addr:
	case <-ctx.Done():
		t.Fatal("kubectl port-forward did not start")
	}
	conn := try(net.DialTimeout("tcp", local, 10*time.Second)).must(t)
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	msg := "bytes up and down\n"
	try(io.WriteString(conn, msg)).must(t)
	if got, err := bufio.NewReader(conn).ReadString('\n'); err != nil || got != msg {
		t.Errorf("port-forward echoed %q (%v), want %q", got, err, msg)
	}
}
