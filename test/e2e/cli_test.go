package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestVirtualNodeBadInput: a bad flag, a missing or broken kubeconfig, or an unreachable
// cluster stops virtual-node at once with one clear line and a non-zero exit code.
func TestVirtualNodeBadInput(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.kubeconfig")
	noErr(t, os.WriteFile(broken, []byte("this: is: not: a kubeconfig"), 0o600))
	unreachable := filepath.Join(dir, "unreachable.kubeconfig")
	noErr(t, os.WriteFile(unreachable, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600))
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no flags", nil, "--nodename is required"},
		{"missing kubeconfig", []string{"--nodename", "x", "--client-kubeconfig", filepath.Join(dir, "nope")}, "--client-kubeconfig"},
		{"broken kubeconfig", []string{"--nodename", "x", "--kubeconfig", upper.Kubeconfig, "--client-kubeconfig", broken}, "not a usable kubeconfig"},
		{"unreachable lower cluster", []string{"--nodename", "x", "--kubeconfig", upper.Kubeconfig, "--client-kubeconfig", unreachable}, "lower cluster at https://127.0.0.1:1 is unreachable"},
		{"bad taint", []string{"--nodename", "x", "--client-kubeconfig", lowerA.Kubeconfig, "--register-with-taints", "k=v"}, "want key=value:Effect"},
		{"unknown flag", []string{"--no-such-flag"}, "unknown flag: --no-such-flag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			out, err := exec.CommandContext(ctx, filepath.Join(binDir, "virtual-node"), tc.args...).CombinedOutput()
			exit, ok := err.(*exec.ExitError)
			if !ok || exit.ExitCode() == 0 {
				t.Fatalf("exit: %v, want a non-zero exit code\n%s", err, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("output does not say %q:\n%s", tc.want, out)
			}
			if d := time.Since(start); d > 15*time.Second {
				t.Errorf("took %v to fail", d)
			}
		})
	}
	// Nothing was registered by the failed starts.
	if _, err := upper.Client.CoreV1().Nodes().Get(context.Background(), "x", metav1.GetOptions{}); err == nil {
		t.Error("a failed start registered node x")
	}
}

// TestVirtualNodeOperations: /healthz, /readyz and Prometheus /metrics with the
// virtual node's own series.
func TestVirtualNodeOperations(t *testing.T) {
	ctx := context.Background()
	vn := startVirtualNode(t, "vk-ops", lowerB)
	ns := createNamespace(t, upper, "ops")
	try(upper.Client.CoreV1().Pods(ns).Create(ctx, virtualPod(ns, "one", vn.Name), metav1.CreateOptions{})).must(t)
	waitPodRunning(t, lowerB, ns, "one", 30*time.Second)
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + vn.MetricsAddr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, body := get(p); code != http.StatusOK {
			t.Errorf("%s: %d %s", p, code, body)
		}
	}
	eventually(t, 20*time.Second, "metrics with the managed pod and create latencies", func(context.Context) (bool, string) {
		code, body := get("/metrics")
		ok := code == http.StatusOK &&
			strings.Contains(body, "tensile_virtual_node_pods_managed 1") &&
			strings.Contains(body, `tensile_virtual_node_pod_operation_duration_seconds_count{operation="create",result="success"}`) &&
			strings.Contains(body, "tensile_virtual_node_status_sync_lag_seconds_count") &&
			strings.Contains(body, `workqueue_depth{name="pod_status"}`) &&
			strings.Contains(body, `workqueue_adds_total{name="reflector_configmap"}`)
		return ok, fmt.Sprintf("code %d, %d bytes", code, len(body))
	})
}
