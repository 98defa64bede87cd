package kubeletapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/klog/v2"
	"k8s.io/streaming/pkg/httpstream"
)

// PortForward forwards one connection, handed over by virtual-kubelet as stream, to port
// of the lower pod through the lower API server's pods/portforward subresource. Each
// call opens its own connection to the lower API server and one data and error stream
// pair on it, and copies both ways until either side is done.
func (p *Proxy) PortForward(ctx context.Context, namespace, pod string, port int32, stream io.ReadWriteCloser) error {
	lower, err := p.lowerName(ctx, namespace, pod)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("port-forward to %s/%s port %d", namespace, pod, port)
	u := p.rest.Post().Namespace(lower.Namespace).Resource("pods").Name(lower.Name).
		SubResource("portforward").URL()
	dialer, err := newPortForwardDialer(p.cfg.LowerConfig, u)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	conn, _, err := dialer.Dial(portforward.PortForwardProtocolV1Name)
	if err != nil {
		return lowerError(err, what)
	}
	defer conn.Close()
	klog.FromContext(ctx).V(4).Info("Port-forward through the lower cluster",
		"pod", klog.KRef(namespace, pod), "lowerPod", lower, "port", port)
	if err := forward(conn, port, stream); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// newPortForwardDialer returns a dialer that tunnels SPDY over WebSocket to the lower API
// server and falls back to plain SPDY when the upgrade is refused, as kubectl does.
func newPortForwardDialer(cfg *rest.Config, u *url.URL) (httpstream.Dialer, error) {
	transport, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("spdy transport: %w", err)
	}
	spdyDialer := spdy.NewDialerForStreaming(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	wsDialer, err := portforward.NewSPDYOverWebsocketDialerForStreaming(u, cfg)
	if err != nil {
		return nil, fmt.Errorf("websocket dialer: %w", err)
	}
	return portforward.NewFallbackDialerForStreaming(wsDialer, spdyDialer, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	}), nil
}

// errorStreamWait bounds the wait for the lower side's verdict once the data is done.
const errorStreamWait = 10 * time.Second

// streamCreator is the part of an upgraded connection forward needs.
type streamCreator interface {
	CreateStream(headers http.Header) (httpstream.Stream, error)
}

// forward opens an error and a data stream for port on conn and copies between the data
// stream and upper until the lower side is done or upper fails. It mirrors client-go's
// PortForwarder.handleConnection: when upper only half-closes (EOF), the lower data
// stream is half-closed too and the answer is still copied back.
func forward(conn streamCreator, port int32, upper io.ReadWriter) error {
	headers := http.Header{}
	headers.Set(corev1.StreamType, corev1.StreamTypeError)
	headers.Set(corev1.PortHeader, strconv.Itoa(int(port)))
	// One pair per connection, so any fixed request ID pairs them.
	headers.Set(corev1.PortForwardRequestIDHeader, "0")
	errorStream, err := conn.CreateStream(headers)
	if err != nil {
		return fmt.Errorf("creating error stream: %w", err)
	}
	// Nothing is ever written to the error stream from this side.
	_ = errorStream.Close()
	errc := make(chan readResult, 1)
	go func() {
		msg, err := io.ReadAll(errorStream)
		errc <- readResult{msg: msg, err: err}
	}()

	headers.Set(corev1.StreamType, corev1.StreamTypeData)
	data, err := conn.CreateStream(headers)
	if err != nil {
		return fmt.Errorf("creating data stream: %w", err)
	}

	remoteDone := make(chan struct{})
	go func() {
		defer close(remoteDone)
		_, _ = io.Copy(upper, data)
	}()
	localFailed := make(chan struct{})
	go func() {
		// Tell the lower side no more data comes once upper has said so.
		defer func() { _ = data.Close() }()
		if _, err := io.Copy(data, upper); err != nil {
			close(localFailed)
		}
	}()
	select {
	case <-remoteDone:
	case <-localFailed:
	}
	// Discard unsent data: a blocked data stream would otherwise hold up the error stream.
	_ = data.Reset()

	var res readResult
	select {
	case res = <-errc:
	case <-time.After(errorStreamWait):
		// The lower side never closed its error stream; do not hold the connection for it.
		return nil
	}
	switch {
	case res.err != nil:
		return fmt.Errorf("reading error stream: %w", res.err)
	case len(res.msg) > 0:
		return errors.New(string(res.msg))
	}
	return nil
}

// readResult is what reading the error stream produced.
type readResult struct {
	msg []byte
	err error
}
