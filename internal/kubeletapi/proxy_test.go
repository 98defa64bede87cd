package kubeletapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"testing"

	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
)

// notOurs is how a LowerNameFunc refuses a pod that is not this virtual node's.
func notOurs(up types.NamespacedName) error {
	return errdefs.NotFoundf("pod %s is not on this virtual node", up)
}

func TestNewProxyValidates(t *testing.T) {
	owned := func(context.Context) ([]OwnedPod, error) { return nil, nil }
	cfg := &rest.Config{Host: "https://127.0.0.1:1"}
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{name: "complete", cfg: Config{NodeName: "n", LowerConfig: cfg, OwnedPods: owned}, ok: true},
		{name: "no node name", cfg: Config{LowerConfig: cfg, OwnedPods: owned}},
		{name: "no lower config", cfg: Config{NodeName: "n", OwnedPods: owned}},
		{name: "no owned pods", cfg: Config{NodeName: "n", LowerConfig: cfg}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewProxy(tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("NewProxy error = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && (p.cfg.LowerName == nil || p.cfg.LowerMetricsPath == nil || p.cfg.StatsTimeout == 0 || p.lower == nil) {
				t.Errorf("defaults not set: %+v", p.cfg)
			}
		})
	}
}

func TestCheckPod(t *testing.T) {
	client := fake.NewClientset(testPod("ns", "p", "n1"))
	p, err := NewProxy(Config{
		NodeName:    "vnode",
		LowerConfig: &rest.Config{Host: "https://127.0.0.1:1"},
		LowerClient: client,
		OwnedPods:   func(context.Context) ([]OwnedPod, error) { return nil, nil },
		LowerName: func(ctx context.Context, up types.NamespacedName) (types.NamespacedName, error) {
			if up.Name == "foreign" {
				return types.NamespacedName{}, notOurs(up)
			}
			if up.Name == "broken" {
				return types.NamespacedName{}, errors.New("mapping store down")
			}
			return SameName(ctx, up)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, pod, container string
		want                 int
	}{
		{name: "pod only", pod: "p", want: http.StatusOK},
		{name: "container", pod: "p", container: "c1", want: http.StatusOK},
		{name: "init container", pod: "p", container: "init", want: http.StatusOK},
		{name: "ephemeral container", pod: "p", container: "debug", want: http.StatusOK},
		{name: "unknown container", pod: "p", container: "nope", want: http.StatusNotFound},
		{name: "unknown pod", pod: "nope", want: http.StatusNotFound},
		{name: "pod of another node", pod: "foreign", want: http.StatusNotFound},
		{name: "mapping fails", pod: "broken", want: http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.CheckPod(context.Background(), "ns", tt.pod, tt.container)
			if got := StatusCode(err); got != tt.want {
				t.Errorf("CheckPod = %v: status %d, want %d", err, got, tt.want)
			}
		})
	}
}

// TestCheckPodUnreachable points the proxy at a port nothing listens on: the lower
// cluster is down, which a kubelet API caller must see as 503, not 404 or 500.
func TestCheckPodUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	p, err := NewProxy(Config{
		NodeName:    "vnode",
		LowerConfig: &rest.Config{Host: "http://" + addr},
		OwnedPods:   func(context.Context) ([]OwnedPod, error) { return nil, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	err = p.CheckPod(context.Background(), "ns", "p", "c1")
	if !errors.Is(err, ErrLowerUnavailable) || StatusCode(err) != http.StatusServiceUnavailable {
		t.Errorf("CheckPod = %v (status %d), want ErrLowerUnavailable and 503", err, StatusCode(err))
	}
}

func TestStatusCode(t *testing.T) {
	podsGR := schema.GroupResource{Resource: "pods"}
	urlErr := &url.Error{Op: "Get", URL: "https://lower", Err: errors.New("connection refused")}
	tests := []struct {
		name string
		err  error
		want int
	}{
		{name: "nil", err: nil, want: http.StatusOK},
		{name: "errdefs not found", err: errdefs.NotFound("x"), want: http.StatusNotFound},
		{name: "wrapped errdefs not found", err: fmt.Errorf("ctx: %w", errdefs.NotFound("x")), want: http.StatusNotFound},
		{name: "lower not found", err: lowerError(apierrors.NewNotFound(podsGR, "p"), "pod"), want: http.StatusNotFound},
		{name: "lower bad request", err: lowerError(apierrors.NewBadRequest("bad"), "logs"), want: http.StatusBadRequest},
		{name: "lower unavailable", err: lowerError(apierrors.NewServiceUnavailable("down"), "pod"), want: http.StatusServiceUnavailable},
		{name: "lower too many requests", err: lowerError(apierrors.NewTooManyRequests("slow down", 1), "pod"), want: http.StatusServiceUnavailable},
		{name: "lower unreachable", err: lowerError(urlErr, "pod"), want: http.StatusServiceUnavailable},
		{name: "lower deadline", err: lowerError(context.DeadlineExceeded, "pod"), want: http.StatusServiceUnavailable},
		{name: "lower forbidden", err: lowerError(apierrors.NewForbidden(podsGR, "p", errors.New("no")), "pod"), want: http.StatusInternalServerError},
		{name: "other", err: errors.New("boom"), want: http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := StatusCode(tt.err); got != tt.want {
				t.Errorf("StatusCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

// TestLowerErrorKeepsVirtualKubeletMapping checks that virtual-kubelet's own error
// mapping, which follows Cause and not Unwrap, still sees a lower not-found.
func TestLowerErrorKeepsVirtualKubeletMapping(t *testing.T) {
	err := lowerError(apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, "p"), "pod")
	if !errdefs.IsNotFound(err) {
		t.Errorf("errdefs.IsNotFound(%v) = false", err)
	}
	if !errdefs.IsInvalidInput(lowerError(apierrors.NewBadRequest("x"), "logs")) {
		t.Error("bad request is not invalid input for virtual-kubelet")
	}
}
