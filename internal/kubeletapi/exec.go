package kubeletapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	clientexec "k8s.io/client-go/util/exec"
	"k8s.io/klog/v2"
	"k8s.io/streaming/pkg/httpstream"
)

// RunInContainer runs cmd in a container of the lower pod through the lower API server's
// pods/exec subresource, with or without a TTY and stdin; terminal resizes from attach
// are passed on. A non-zero exit code comes back as the lower API server reported it,
// unwrapped, so that virtual-kubelet hands the same exit code to the client.
func (p *Proxy) RunInContainer(ctx context.Context, namespace, podName, containerName string, cmd []string, attach api.AttachIO) error {
	return p.remote(ctx, namespace, podName, "exec", &corev1.PodExecOptions{
		Container: containerName, Command: cmd,
		Stdin: attach.Stdin() != nil, Stdout: attach.Stdout() != nil, Stderr: attach.Stderr() != nil, TTY: attach.TTY(),
	}, attach, fmt.Sprintf("exec in %s/%s container %s", namespace, podName, containerName))
}

// AttachToContainer attaches to the running process of a container of the lower pod
// through the lower API server's pods/attach subresource, like RunInContainer.
func (p *Proxy) AttachToContainer(ctx context.Context, namespace, podName, containerName string, attach api.AttachIO) error {
	return p.remote(ctx, namespace, podName, "attach", &corev1.PodAttachOptions{
		Container: containerName,
		Stdin:     attach.Stdin() != nil, Stdout: attach.Stdout() != nil, Stderr: attach.Stderr() != nil, TTY: attach.TTY(),
	}, attach, fmt.Sprintf("attach to %s/%s container %s", namespace, podName, containerName))
}

// remote streams attach through the lower pod's exec or attach subresource.
func (p *Proxy) remote(ctx context.Context, namespace, podName, subresource string, opts runtime.Object, attach api.AttachIO, what string) error {
	lower, err := p.lowerName(ctx, namespace, podName)
	if err != nil {
		return err
	}
	u := p.rest.Post().Namespace(lower.Namespace).Resource("pods").Name(lower.Name).
		SubResource(subresource).VersionedParams(opts, scheme.ParameterCodec).URL()
	klog.FromContext(ctx).V(4).Info("Streaming through the lower cluster", "subresource", subresource,
		"pod", klog.KRef(namespace, podName), "lowerPod", lower, "tty", attach.TTY(), "stdin", attach.Stdin() != nil)
	return p.stream(ctx, u, attach, what)
}

// stream runs one remote command session against u and copies attach's streams to and
// from it until it ends.
func (p *Proxy) stream(ctx context.Context, u *url.URL, attach api.AttachIO, what string) error {
	exec, err := newExecutor(p.cfg.LowerConfig, u)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	// Cancelling on return releases the resize goroutine client-go parks in Next.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	opts := remotecommand.StreamOptions{Tty: attach.TTY()}
	// Only set the streams the client asked for: a nil interface is "not requested",
	// an interface holding a nil value would not be.
	if in := attach.Stdin(); in != nil {
		opts.Stdin = in
	}
	if out := attach.Stdout(); out != nil {
		opts.Stdout = out
	}
	if errOut := attach.Stderr(); errOut != nil && !attach.TTY() {
		opts.Stderr = errOut
	}
	if attach.TTY() && attach.Resize() != nil {
		opts.TerminalSizeQueue = &sizeQueue{ctx: ctx, sizes: attach.Resize()}
	}

	err = exec.StreamWithContext(ctx, opts)
	if err == nil {
		return nil
	}
	// virtual-kubelet recognises an exit code by a type assertion on the error itself,
	// so it must not be wrapped.
	var exitErr clientexec.ExitError
	if errors.As(err, &exitErr) && exitErr.Exited() {
		return exitErr
	}
	return lowerError(err, what)
}

// newExecutor returns an executor that speaks WebSocket (remote command protocol v5) to
// the lower API server and falls back to SPDY when the upgrade is refused, as kubectl does.
func newExecutor(cfg *rest.Config, u *url.URL) (remotecommand.Executor, error) {
	spdyExec, err := remotecommand.NewSPDYExecutor(cfg, http.MethodPost, u)
	if err != nil {
		return nil, fmt.Errorf("spdy executor: %w", err)
	}
	// A WebSocket upgrade must be a GET (RFC 6455 section 4.1).
	wsExec, err := remotecommand.NewWebSocketExecutor(cfg, http.MethodGet, u.String())
	if err != nil {
		return nil, fmt.Errorf("websocket executor: %w", err)
	}
	return remotecommand.NewFallbackExecutor(wsExec, spdyExec, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
}

// sizeQueue turns virtual-kubelet's resize channel into client-go's TerminalSizeQueue.
type sizeQueue struct {
	ctx   context.Context
	sizes <-chan api.TermSize
}

var _ remotecommand.TerminalSizeQueue = (*sizeQueue)(nil)

// Next blocks until the terminal is resized and returns the new size, or returns nil
// once the session is over, which tells client-go to stop asking.
func (q *sizeQueue) Next() *remotecommand.TerminalSize {
	select {
	case s, ok := <-q.sizes:
		if !ok {
			return nil
		}
		return &remotecommand.TerminalSize{Width: s.Width, Height: s.Height}
	case <-q.ctx.Done():
		return nil
	}
}
