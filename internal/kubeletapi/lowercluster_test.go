package kubeletapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tensile-kube/tensile/internal/eventually"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	clientexec "k8s.io/client-go/util/exec"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// lowerClusterEnv names the kubeconfig of a real lower cluster with KWOK fake nodes and
// hack/testbed/kwok-streaming.yaml applied, e.g. .testbed/lower-a.kubeconfig. Without
// it, TestAgainstLowerCluster is skipped.
const lowerClusterEnv = "KUBELETAPI_LOWER_KUBECONFIG"

// TestAgainstLowerCluster serves a virtual node's kubelet API from a real lower API
// server with KWOK behind it: a real pods/log, pods/exec (WebSocket v5, or SPDY) and
// pods/portforward, a real node proxy. It creates a pod in a namespace of its own on a
// fake node and removes both.
func TestAgainstLowerCluster(t *testing.T) {
	kubeconfig := os.Getenv(lowerClusterEnv)
	if kubeconfig == "" {
		t.Skipf("set %s to run against a lower cluster", lowerClusterEnv)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 100, 200
	ns, pod := lowerClusterPod(t, cfg)
	p, err := NewProxy(Config{
		NodeName:    "vnode",
		LowerConfig: cfg,
		OwnedPods: func(ctx context.Context) ([]OwnedPod, error) {
			return []OwnedPod{{Upper: PodIdentity{Namespace: ns, Name: pod.Name, UID: "upper"}, Lower: pod}}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	base := newTestHandler(t, p, allowAll(t)).URL
	prefix := "/" + ns + "/" + pod.Name

	t.Run("logs", func(t *testing.T) {
		code, body := get(t, base+"/containerLogs"+prefix+"/c1?tailLines=2&timestamps=true")
		want := "2024-01-01T00:00:04.000000000Z tensile test bed: line 4\n2024-01-01T00:00:05.000000000Z tensile test bed: line 5\n"
		if code != http.StatusOK || body != want {
			t.Errorf("got %d %q, want 200 %q", code, body, want)
		}
		if code, _ := get(t, base+"/containerLogs"+prefix+"/nope"); code != http.StatusNotFound {
			t.Errorf("unknown container: %d, want 404", code)
		}
	})
	t.Run("exec", func(t *testing.T) { execAgainstLowerCluster(t, base, prefix) })
	t.Run("port-forward", func(t *testing.T) {
		u, _ := url.Parse(base + "/portForward" + prefix)
		transport, upgrader, err := spdy.RoundTripperFor(&rest.Config{Host: base})
		if err != nil {
			t.Fatal(err)
		}
		stop, ready := make(chan struct{}), make(chan struct{})
		defer close(stop)
		fw, err := portforward.NewOnAddresses(spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, u),
			[]string{"127.0.0.1"}, []string{"0:8080"}, stop, ready, io.Discard, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = fw.ForwardPorts() }()
		<-ready
		ports, _ := fw.GetPorts()
		if got := echoOnce(t, fmt.Sprintf("127.0.0.1:%d", ports[0].Local), "ping\n"); got != "ping\n" {
			t.Errorf("echo: %q", got)
		}
	})
	t.Run("stats", func(t *testing.T) {
		code, body := get(t, base+"/stats/summary")
		var s statsv1alpha1.Summary
		if code != http.StatusOK || json.Unmarshal([]byte(body), &s) != nil || len(s.Pods) != 1 || s.Pods[0].PodRef.UID != "upper" {
			t.Errorf("got %d %s", code, body)
		}
	})
}

// execAgainstLowerCluster runs commands in the lower pod through the virtual node.
func execAgainstLowerCluster(t *testing.T, base, prefix string) {
	var out, errOut bytes.Buffer
	q := url.Values{"command": {"sh", "-c", "echo hi; echo oops >&2"}, "output": {"1"}, "error": {"1"}}
	err := runUpper(t, base, "/exec"+prefix+"/c1", q, remotecommand.StreamOptions{Stdout: &out, Stderr: &errOut})
	if err != nil || out.String() != "hi\n" || errOut.String() != "oops\n" {
		t.Errorf("echo: %v %q %q", err, out.String(), errOut.String())
	}
	out.Reset()
	// KWOK v0.8.0 never closes a command's stdin, so `cat` would never end: head does.
	q = url.Values{"command": {"head", "-n1"}, "input": {"1"}, "output": {"1"}}
	if err := runUpper(t, base, "/exec"+prefix+"/c1", q, remotecommand.StreamOptions{Stdin: strings.NewReader("typed\n"), Stdout: &out}); err != nil || out.String() != "typed\n" {
		t.Errorf("stdin: %v %q", err, out.String())
	}
	// KWOK v0.8.0 reports a non-zero exit as an internal error, not as an exit code.
	q = url.Values{"command": {"sh", "-c", "exit 3"}, "output": {"1"}}
	var exitErr clientexec.ExitError
	err = runUpper(t, base, "/exec"+prefix+"/c1", q, remotecommand.StreamOptions{Stdout: io.Discard})
	switch {
	case err == nil:
		t.Error("exit 3: no error")
	case errors.As(err, &exitErr):
		if exitErr.ExitStatus() != 3 {
			t.Errorf("exit 3: exit code %d", exitErr.ExitStatus())
		}
	case !strings.Contains(err.Error(), "exit status 3"):
		t.Errorf("exit 3: %v", err)
	}
	// A TTY with stdin: KWOK v0.8.0's kwok-controller crashes on a TTY without one.
	out.Reset()
	stdin, closeStdin := io.Pipe()
	defer closeStdin.Close()
	q = url.Values{"command": {"sh", "-c", "stty size; sleep 1"}, "input": {"1"}, "output": {"1"}, "tty": {"1"}}
	sizes := &fixedSizes{sizes: []remotecommand.TerminalSize{{Width: 100, Height: 30}}}
	err = runUpper(t, base, "/exec"+prefix+"/c1", q, remotecommand.StreamOptions{Stdin: stdin, Stdout: &out, Tty: true, TerminalSizeQueue: sizes})
	if err != nil || strings.TrimSpace(out.String()) != "30 100" {
		t.Errorf("tty size: %v %q", err, out.String())
	}
}

// lowerClusterPod creates a running pod on a fake node of the lower cluster.
func lowerClusterPod(t *testing.T, cfg *rest.Config) (string, *corev1.Pod) {
	t.Helper()
	ctx := context.Background()
	client := kubernetes.NewForConfigOrDie(cfg)
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) == 0 {
		t.Fatalf("no lower nodes: %v", err)
	}
	ns := "kubeletapi-" + rand.String(6)
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}) })
	pod, err := client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec: corev1.PodSpec{
			NodeName:    nodes.Items[0].Name,
			Containers:  []corev1.Container{{Name: "c1", Image: "fake"}},
			Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually.True(t, 60*time.Second, "the lower pod to run", func() bool {
		pod, err = client.CoreV1().Pods(ns).Get(ctx, "p", metav1.GetOptions{})
		return err == nil && pod.Status.Phase == corev1.PodRunning
	})
	return ns, pod
}
