// Package e2e proves the project's behaviour against the local test bed: real
// kube-apiserver/etcd control planes on 127.0.0.1, KWOK nodes in the lower clusters, and
// this project's binaries started as processes. `make test-e2e` brings the test bed up
// before the run and down after it.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Cluster is one test-bed cluster as the tests see it.
type Cluster struct {
	Name       string
	Kubeconfig string
	Config     *rest.Config
	Client     kubernetes.Interface
}

var (
	repoRoot = func() string {
		_, file, _, _ := runtime.Caller(0)
		return filepath.Join(filepath.Dir(file), "..", "..")
	}()
	testbed = filepath.Join(repoRoot, envOr("TESTBED_DIR", ".testbed"))
	binDir  = filepath.Join(repoRoot, "bin")

	upper, lowerA, lowerB *Cluster
)

func TestMain(m *testing.M) {
	var err error
	for _, c := range []struct {
		dst  **Cluster
		name string
	}{{&upper, "upper"}, {&lowerA, "lower-a"}, {&lowerB, "lower-b"}} {
		if *c.dst, err = loadCluster(c.name); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: the test bed is not up (run `make test-e2e`, or `make testbed-up` first): %v\n", err)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func loadCluster(name string) (*Cluster, error) {
	path := filepath.Join(testbed, name+".kubeconfig")
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 200, 400
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := client.CoreV1().Namespaces().Get(ctx, "default", metav1GetOptions); err != nil {
		return nil, fmt.Errorf("cluster %s: %w", name, err)
	}
	return &Cluster{Name: name, Kubeconfig: path, Config: cfg, Client: client}, nil
}

// eventually polls cond every 200ms until it returns true or timeout passes, and fails
// the test with the last message cond gave.
func eventually(t testing.TB, timeout time.Duration, what string, cond func(ctx context.Context) (bool, string)) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		// Each poll gets its own deadline: a call cut short by the overall timeout
		// would replace the last useful message with a context error.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ok, msg := cond(ctx)
		last = msg
		return ok, nil
	})
	if err != nil {
		t.Fatalf("timed out after %v waiting for %s: %s", timeout, what, last)
	}
}

// Process is one of this project's binaries started by a test.
type Process struct {
	Name string
	Cmd  *exec.Cmd
	Log  string
}

// startProcess starts bin/<binary> with args, logging to .testbed/logs/<name>.log, and
// stops it (SIGTERM) when the test ends.
func startProcess(t testing.TB, name, binary string, args ...string) *Process {
	t.Helper()
	logPath := filepath.Join(testbed, "logs", name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(binDir, binary), args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", binary, err)
	}
	p := &Process{Name: name, Cmd: cmd, Log: logPath}
	t.Cleanup(func() {
		p.Stop(syscall.SIGTERM)
		f.Close()
		if t.Failed() {
			t.Logf("last lines of %s:\n%s", logPath, tail(logPath, 40))
		}
	})
	return p
}

// Stop sends sig and waits for the process to exit.
func (p *Process) Stop(sig syscall.Signal) {
	if p.Cmd.ProcessState != nil {
		return
	}
	_ = p.Cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { _, _ = p.Cmd.Process.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = p.Cmd.Process.Kill()
		<-done
	}
	p.Cmd.ProcessState = &os.ProcessState{}
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// kubectl runs bin/kubectl against a cluster and returns its combined output.
func kubectl(t testing.TB, c *Cluster, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "kubectl"), append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
