package kubeletapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	clientexec "k8s.io/client-go/util/exec"
)

// kubeletCommands is the fake lower kubelet's exec: a few commands enough to see every
// stream, the exit code and terminal resizes come through.
func kubeletCommands(_ context.Context, _, _, container string, cmd []string, attach api.AttachIO) error {
	switch cmd[0] {
	case "echo":
		_, err := fmt.Fprintln(attach.Stdout(), strings.Join(cmd[1:], " "))
		return err
	case "warn":
		_, err := fmt.Fprintln(attach.Stderr(), strings.Join(cmd[1:], " "))
		return err
	case "cat":
		_, err := io.Copy(attach.Stdout(), attach.Stdin())
		return err
	case "exit":
		code, _ := strconv.Atoi(cmd[1])
		return clientexec.CodeExitError{Err: fmt.Errorf("exit status %d", code), Code: code}
	case "sizes":
		n, _ := strconv.Atoi(cmd[1])
		for i := 0; i < n; i++ {
			s := <-attach.Resize()
			if _, err := fmt.Fprintf(attach.Stdout(), "%dx%d\n", s.Width, s.Height); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unknown command %q in container %s", cmd[0], container)
}

// streamBed is a fake lower cluster with pod ns/p behind a virtual node's Handler.
func streamBed(t *testing.T, cfg HandlerConfig) (*fakeLower, string) {
	t.Helper()
	lower := newFakeLower(t)
	lower.addPod(testPod("ns", "p", "n1"))
	lower.streams = api.PodHandlerConfig{
		RunInContainer: kubeletCommands,
		AttachToContainer: func(ctx context.Context, ns, pod, container string, attach api.AttachIO) error {
			if _, err := fmt.Fprintf(attach.Stdout(), "attached to %s\n", container); err != nil {
				return err
			}
			_, err := io.Copy(attach.Stdout(), attach.Stdin())
			return err
		},
		PortForward: func(_ context.Context, _, _ string, port int32, stream io.ReadWriteCloser) error {
			if _, err := fmt.Fprintf(stream, "port %d:", port); err != nil {
				return err
			}
			_, err := io.Copy(stream, stream)
			return err
		},
	}
	srv := newTestHandlerWith(t, newTestProxy(t, lower), allowAll(t), cfg)
	return lower, srv.URL
}

// runUpper runs a remote command against the virtual node as the upper API server does.
func runUpper(t *testing.T, base, path string, query url.Values, opts remotecommand.StreamOptions) error {
	t.Helper()
	u, err := url.Parse(base + path + "?" + query.Encode())
	if err != nil {
		t.Fatal(err)
	}
	exec, err := remotecommand.NewSPDYExecutor(&rest.Config{Host: base}, http.MethodPost, u)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return exec.StreamWithContext(ctx, opts)
}

// fixedSizes is a TerminalSizeQueue that reports the given sizes, then ends.
type fixedSizes struct{ sizes []remotecommand.TerminalSize }

func (q *fixedSizes) Next() *remotecommand.TerminalSize {
	if len(q.sizes) == 0 {
		return nil
	}
	s := q.sizes[0]
	q.sizes = q.sizes[1:]
	return &s
}

func TestExecThroughLowerCluster(t *testing.T) {
	_, base := streamBed(t, HandlerConfig{})
	tests := []struct {
		name       string
		path       string
		query      url.Values
		stdin      string
		tty        bool
		sizes      []remotecommand.TerminalSize
		wantOut    string
		wantErrOut string
		wantCode   int
	}{
		{name: "echo", path: "/exec/ns/p/c1", query: url.Values{"command": {"echo", "hi"}, "output": {"1"}, "error": {"1"}}, wantOut: "hi\n"},
		{name: "stderr", path: "/exec/ns/p/c1", query: url.Values{"command": {"warn", "careful"}, "output": {"1"}, "error": {"1"}}, wantErrOut: "careful\n"},
		{name: "stdin", path: "/exec/ns/p/c1", query: url.Values{"command": {"cat"}, "input": {"1"}, "output": {"1"}}, stdin: "from stdin\n", wantOut: "from stdin\n"},
		{name: "exit code", path: "/exec/ns/p/c1", query: url.Values{"command": {"exit", "3"}, "output": {"1"}, "error": {"1"}}, wantCode: 3},
		{
			name: "tty resize", path: "/exec/ns/p/c1", query: url.Values{"command": {"sizes", "2"}, "output": {"1"}, "tty": {"1"}},
			tty: true, sizes: []remotecommand.TerminalSize{{Width: 80, Height: 24}, {Width: 120, Height: 40}}, wantOut: "80x24\n120x40\n",
		},
		{name: "attach", path: "/attach/ns/p/c1", query: url.Values{"input": {"1"}, "output": {"1"}}, stdin: "typed\n", wantOut: "attached to c1\ntyped\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			opts := remotecommand.StreamOptions{Tty: tt.tty}
			if tt.query.Has("input") {
				opts.Stdin = strings.NewReader(tt.stdin)
			}
			if tt.query.Has("output") {
				opts.Stdout = &out
			}
			if tt.query.Has("error") {
				opts.Stderr = &errOut
			}
			if tt.sizes != nil {
				opts.TerminalSizeQueue = &fixedSizes{sizes: tt.sizes}
			}
			err := runUpper(t, base, tt.path, tt.query, opts)
			var exitErr clientexec.ExitError
			switch {
			case tt.wantCode != 0:
				if !errors.As(err, &exitErr) || exitErr.ExitStatus() != tt.wantCode {
					t.Fatalf("got %v, want exit code %d", err, tt.wantCode)
				}
			case err != nil:
				t.Fatal(err)
			}
			if out.String() != tt.wantOut || errOut.String() != tt.wantErrOut {
				t.Errorf("stdout %q stderr %q, want %q %q", out.String(), errOut.String(), tt.wantOut, tt.wantErrOut)
			}
		})
	}
}

func TestExecUnknownPodIsNotFoundBeforeUpgrade(t *testing.T) {
	_, base := streamBed(t, HandlerConfig{})
	for _, path := range []string{"/exec/ns/nope/c1?command=echo&output=1", "/exec/ns/p/nope?command=echo&output=1", "/attach/ns/nope/c1?output=1", "/portForward/ns/nope"} {
		resp, err := http.Post(base+path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", path, resp.StatusCode)
		}
	}
}

// TestPortForwardThroughLowerCluster forwards a local port as kubectl port-forward does,
// through the virtual node, to the fake lower pod, which echoes. The stream creation
// timeout is short and the connection idles longer than it before use: with
// virtual-kubelet's swapped port-forward timeouts, it would be closed by then.
func TestPortForwardThroughLowerCluster(t *testing.T) {
	_, base := streamBed(t, HandlerConfig{StreamCreationTimeout: 300 * time.Millisecond, StreamIdleTimeout: time.Hour})
	u, err := url.Parse(base + "/portForward/ns/p")
	if err != nil {
		t.Fatal(err)
	}
	transport, upgrader, err := spdy.RoundTripperFor(&rest.Config{Host: base})
	if err != nil {
		t.Fatal(err)
	}
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	stop, ready := make(chan struct{}), make(chan struct{})
	defer close(stop)
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:8080"}, stop, ready, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- fw.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-errc:
		t.Fatalf("port-forward ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("port-forward not ready")
	}
	ports, err := fw.GetPorts()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // idle past the creation timeout
	for i := 0; i < 2; i++ {
		got := echoOnce(t, fmt.Sprintf("127.0.0.1:%d", ports[0].Local), fmt.Sprintf("hello %d", i))
		if want := fmt.Sprintf("port 8080:hello %d", i); got != want {
			t.Errorf("connection %d: got %q, want %q", i, got, want)
		}
	}
}

// echoOnce sends msg on a new connection, half-closes it and returns the whole answer.
func echoOnce(t *testing.T, addr, msg string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, msg); err != nil {
		t.Fatal(err)
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
