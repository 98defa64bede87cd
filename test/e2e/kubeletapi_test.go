package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// TestKubeletAPI drives the virtual node's kubelet API from the upper cluster the way a
// user does: kubectl -> upper API server -> virtual node -> lower API server -> KWOK.
func TestKubeletAPI(t *testing.T) {
	ctx := context.Background()
	vn := startVirtualNode(t, "vk-api", lowerA)
	ns := createNamespace(t, upper, "kapi")
	try(upper.Client.CoreV1().Pods(ns).Create(ctx, virtualPod(ns, "web", vn.Name), metav1.CreateOptions{})).must(t)
	waitPodRunning(t, lowerA, ns, "web", 30*time.Second)
	run := func(t *testing.T, args ...string) string {
		t.Helper()
		out, err := kubectl(t, upper, append([]string{"-n", ns}, args...)...)
		if err != nil {
			t.Fatalf("kubectl %v: %v\n%s", args, err, out)
		}
		return out
	}

	t.Run("logs with kubectl's options", func(t *testing.T) {
		if out := run(t, "logs", "web"); !strings.Contains(out, "line 1") || !strings.Contains(out, "line 5") {
			t.Errorf("logs:\n%s", out)
		}
		if out := strings.TrimSpace(run(t, "logs", "web", "--tail=2")); out != "tensile test bed: line 4\ntensile test bed: line 5" {
			t.Errorf("--tail=2:\n%s", out)
		}
		if out := run(t, "logs", "web", "--timestamps"); !regexp.MustCompile(`(?m)^2024-01-01T00:00:01(\.0+)?Z tensile test bed: line 1$`).MatchString(out) {
			t.Errorf("--timestamps:\n%s", out)
		}
		// The canned lines are from 2024: none is newer than an hour.
		if out := strings.TrimSpace(run(t, "logs", "web", "--since=1h")); out != "" {
			t.Errorf("--since=1h returned old lines:\n%s", out)
		}
		if out := strings.TrimSpace(run(t, "logs", "web", "--since-time=2024-01-01T00:00:04Z")); out != "tensile test bed: line 4\ntensile test bed: line 5" {
			t.Errorf("--since-time:\n%s", out)
		}
	})

	t.Run("logs -f streams and stops when interrupted", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(binDir, "kubectl"), "--kubeconfig", upper.Kubeconfig, "-n", ns, "logs", "-f", "web")
		stdout := try(cmd.StdoutPipe()).must(t)
		noErr(t, cmd.Start())
		defer func() { _ = cmd.Process.Kill() }() // in case the test ends early
		// kubectl logs prints both streams, so the whole canned file (hack/testbed/kwok-streaming.log).
		want := []string{
			"tensile test bed: line 1",
			"tensile test bed: line 2",
			"tensile test bed: line 3 (stderr)",
			"tensile test bed: line 4",
			"tensile test bed: line 5",
		}
		lines := make(chan string, 16)
		go func() {
			defer close(lines)
			s := bufio.NewScanner(stdout)
			for s.Scan() {
				lines <- s.Text()
			}
		}()
		var got []string
		for len(got) < len(want) {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("kubectl logs -f output ended after %d lines: %q", len(got), got)
				}
				got = append(got, l)
			case <-ctx.Done():
				t.Fatalf("kubectl logs -f printed %d lines before timing out: %q", len(got), got)
			}
		}
		if !strings.Contains(got[0], "line 1") {
			t.Errorf("first followed line = %q", got[0])
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("followed lines (-want +got):\n%s", diff)
		}
		// Everything is printed; following means kubectl keeps waiting for more. (The
		// output is read to its end before Wait, which closes the pipe.)
		exited := make(chan error, 1)
		go func() {
			for range lines {
			}
			exited <- cmd.Wait()
		}()
		select {
		case err := <-exited:
			t.Fatalf("kubectl logs -f exited (%v) after printing the file: it did not follow", err)
		case <-time.After(2 * time.Second):
		}
		noErr(t, cmd.Process.Kill())
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			t.Fatal("kubectl logs -f did not exit within 5s of being killed")
		}
	})

	t.Run("exec, with and without stdin", func(t *testing.T) {
		if out := strings.TrimSpace(run(t, "exec", "web", "--", "echo", "hello from below")); out != "hello from below" {
			t.Errorf("exec echo = %q", out)
		}
		cmd := exec.Command(filepath.Join(binDir, "kubectl"), "--kubeconfig", upper.Kubeconfig, "-n", ns, "exec", "-i", "web", "--", "head", "-n1")
		cmd.Stdin = strings.NewReader("ping through two clusters\n")
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "ping through two clusters" {
			t.Errorf("exec -i: %v %q", err, out)
		}
	})

	t.Run("port-forward moves bytes both ways", func(t *testing.T) { portForwardEcho(t, ns, "web") })

	t.Run("attach streams what the container writes after attaching", func(t *testing.T) {
		attachSees(ctx, t, ns, "c", "written after attach")
	})

	// The upper API server's node proxy (kubectl get --raw /api/v1/nodes/<n>/proxy/...)
	// refuses node addresses that are not global unicast ("address not allowed"), and
	// the test bed listens on loopback only. metrics-server scrapes kubelets directly,
	// and so does this test: with the upper admin's client certificate, verifying the
	// node's serving certificate (issued through its CSR) against the cluster CA.
	t.Run("stats summary lists the pod, over a CSR-issued certificate", func(t *testing.T) {
		rt := try(rest.TransportFor(upper.Config)).must(t)
		client := &http.Client{Transport: rt, Timeout: 10 * time.Second}
		eventually(t, 30*time.Second, "/stats/summary with the pod", func(ctx context.Context) (bool, string) {
			resp, err := client.Get("https://" + vn.KubeletAddr + "/stats/summary")
			if err != nil {
				return false, err.Error() // e.g. the interim self-signed certificate
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			out := string(body)
			ok := resp.StatusCode == http.StatusOK && strings.Contains(out, `"name":"web"`) &&
				strings.Contains(out, `"namespace":"`+ns+`"`) && strings.Contains(out, `"nodeName":"`+vn.Name+`"`)
			return ok, fmt.Sprintf("%d %s", resp.StatusCode, out)
		})
	})

	t.Run("no credentials get 401, a user without nodes/proxy gets 403", func(t *testing.T) {
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		url := fmt.Sprintf("https://%s/containerLogs/%s/web/c", vn.KubeletAddr, ns)
		resp := try(client.Get(url)).must(t)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("anonymous: %d, want 401", resp.StatusCode)
		}
		sa := try(upper.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "nobody"}}, metav1.CreateOptions{})).must(t)
		tok := try(upper.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa.Name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})).must(t)
		req := try(http.NewRequest(http.MethodGet, url, nil)).must(t)
		req.Header.Set("Authorization", "Bearer "+tok.Status.Token)
		resp = try(client.Do(req)).must(t)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("service account without nodes/proxy: %d, want 403", resp.StatusCode)
		}
	})
}

// attachSees runs kubectl attach to container c of pod ns/web (on lower-a) and writes
// marker lines to the file KWOK's attach follows (hack/testbed/kwok-streaming.yaml),
// from its end, until one arrives through the attach stream; when the stream is up is
// not observable from here. It fails the test after 30 s.
func attachSees(ctx context.Context, t *testing.T, ns, container, marker string) {
	t.Helper()
	attachLog := filepath.Join(testbed, "kwok", "clusters", lowerA.Name, "attach.log")
	noErr(t, os.WriteFile(attachLog, nil, 0o644))
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "kubectl"), "--kubeconfig", upper.Kubeconfig, "-n", ns, "attach", "web", "-c", container)
	stdout := try(cmd.StdoutPipe()).must(t)
	noErr(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	seen := make(chan struct{})
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			if strings.Contains(s.Text(), marker) {
				close(seen)
				return
			}
		}
	}()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-seen:
			return
		case <-ctx.Done():
			t.Fatalf("kubectl attach -c %s showed nothing written to the container's output", container)
		case <-tick.C:
			f := try(os.OpenFile(attachLog, os.O_APPEND|os.O_WRONLY, 0)).must(t)
			_, err := io.WriteString(f, time.Now().UTC().Format(time.RFC3339Nano)+" stdout F "+marker+"\n")
			noErr(t, errors.Join(err, f.Close()))
		}
	}
}
