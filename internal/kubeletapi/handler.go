package kubeletapi

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	remotecommandconsts "k8s.io/apimachinery/pkg/util/remotecommand"
	"k8s.io/klog/v2"
)

// Stream timeouts of a kubelet. virtual-kubelet defaults both to 30s, which closes an
// idle `kubectl exec` or `kubectl port-forward` after half a minute.
const (
	// DefaultStreamIdleTimeout is kubelet's default streamingConnectionIdleTimeout.
	DefaultStreamIdleTimeout = 4 * time.Hour
	// DefaultStreamCreationTimeout is how long kubelet waits for a client to open the
	// streams of an upgraded connection.
	DefaultStreamCreationTimeout = remotecommandconsts.DefaultStreamCreationTimeout
)

// HandlerConfig configures a Handler.
type HandlerConfig struct {
	// Routes serves virtual-kubelet's pod routes: the ServeMux given to
	// nodeutil.AttachProviderRoutes, or an api.PodHandler. Required.
	Routes http.Handler
	// Proxy checks pods before their requests are served and answers stats, metrics
	// and port-forward. Required.
	Proxy *Proxy
	// Auth authenticates and authorizes every request. Required: the kubelet API is
	// never served to anonymous callers.
	Auth *Auth
	// StreamIdleTimeout closes exec, attach and port-forward connections idle this
	// long. Defaults to DefaultStreamIdleTimeout.
	StreamIdleTimeout time.Duration
	// StreamCreationTimeout bounds the wait for a client's streams. Defaults to
	// DefaultStreamCreationTimeout.
	StreamCreationTimeout time.Duration
}

// Handler serves a virtual node's kubelet API the way a kubelet does. Every request is
// authenticated and authorized (401 and 403 otherwise); a request for a pod or container
// the lower cluster does not have gets 404, and one the lower cluster cannot answer 503,
// before any stream is upgraded. Stats and metrics are answered here so that their
// errors get the same codes; everything else goes to Routes.
type Handler struct {
	cfg         HandlerConfig
	portForward http.Handler
	chain       http.Handler
}

var _ http.Handler = (*Handler)(nil)

// NewHandler validates cfg, defaults what is optional and returns a Handler.
func NewHandler(cfg HandlerConfig) (*Handler, error) {
	switch {
	case cfg.Routes == nil:
		return nil, errors.New("kubeletapi: Routes is required")
	case cfg.Proxy == nil:
		return nil, errors.New("kubeletapi: Proxy is required")
	case cfg.Auth == nil:
		return nil, errors.New("kubeletapi: Auth is required")
	}
	if cfg.StreamIdleTimeout <= 0 {
		cfg.StreamIdleTimeout = DefaultStreamIdleTimeout
	}
	if cfg.StreamCreationTimeout <= 0 {
		cfg.StreamCreationTimeout = DefaultStreamCreationTimeout
	}
	h := &Handler{cfg: cfg}
	// virtual-kubelet v1.14.1's PodHandler passes the two timeouts of port-forward the
	// wrong way round (idle gets the creation timeout). Swapping them here gives
	// port-forward the intended ones; exec and attach take them from Routes.
	h.portForward = api.PodHandler(api.PodHandlerConfig{
		PortForward:           cfg.Proxy.PortForward,
		StreamIdleTimeout:     cfg.StreamCreationTimeout,
		StreamCreationTimeout: cfg.StreamIdleTimeout,
	}, false)
	h.chain = cfg.Auth.Filter(http.HandlerFunc(h.route))
	return h, nil
}

// ServeHTTP serves one kubelet API request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.chain.ServeHTTP(w, r)
}

// route dispatches an authorized request.
func (h *Handler) route(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case path == "/stats/summary" && r.Method == http.MethodGet:
		h.serveSummary(w, r)
		return
	case path == api.MetricsResourceRouteSuffix && r.Method == http.MethodGet:
		h.serveMetrics(w, r)
		return
	}
	kind, ns, pod, container, ok := podRequest(r.URL.Path)
	if !ok {
		h.cfg.Routes.ServeHTTP(w, r)
		return
	}
	if err := h.cfg.Proxy.CheckPod(r.Context(), ns, pod, container); err != nil {
		writeError(w, r, err)
		return
	}
	switch kind {
	case "portForward":
		h.portForward.ServeHTTP(w, r)
	case "containerLogs":
		h.cfg.Routes.ServeHTTP(w, r.WithContext(withRawQuery(r.Context(), r.URL.Query())))
	default:
		h.cfg.Routes.ServeHTTP(w, r)
	}
}

// podRequest recognises the kubelet paths that address one pod (and container), in the
// forms virtual-kubelet routes: /containerLogs, /exec and /attach with namespace, pod and
// container, /portForward with namespace and pod.
func podRequest(path string) (kind, namespace, pod, container string, ok bool) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	for _, p := range parts {
		if p == "" {
			return "", "", "", "", false
		}
	}
	switch {
	case len(parts) == 4 && (parts[0] == "containerLogs" || parts[0] == "exec" || parts[0] == "attach"):
		return parts[0], parts[1], parts[2], parts[3], true
	case len(parts) == 3 && parts[0] == "portForward":
		return parts[0], parts[1], parts[2], "", true
	}
	return "", "", "", "", false
}

// serveSummary answers /stats/summary.
func (h *Handler) serveSummary(w http.ResponseWriter, r *http.Request) {
	s, err := h.cfg.Proxy.GetStatsSummary(r.Context())
	if err != nil {
		writeError(w, r, err)
		return
	}
	b, err := json.Marshal(s)
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// serveMetrics answers /metrics/resource in Prometheus text format.
func (h *Handler) serveMetrics(w http.ResponseWriter, r *http.Request) {
	fams, err := h.cfg.Proxy.GetMetricsResource(r.Context())
	if err != nil {
		writeError(w, r, err)
		return
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range fams {
		if err := enc.Encode(f); err != nil {
			writeError(w, r, err)
			return
		}
	}
	w.Header().Set("Content-Type", api.PrometheusTextFormatContentType)
	_, _ = w.Write(buf.Bytes())
}

// writeError answers err with the status a kubelet would.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := StatusCode(err)
	logger := klog.FromContext(r.Context())
	if code >= http.StatusInternalServerError {
		logger.Error(err, "Kubelet API request failed", "path", r.URL.Path, "status", code)
	} else {
		logger.V(4).Info("Kubelet API request refused", "path", r.URL.Path, "status", code, "err", err)
	}
	http.Error(w, err.Error(), code)
}

// StreamTimeouts are the stream timeouts h was configured with: give them to the
// api.PodHandler that serves Routes' exec and attach.
func (h *Handler) StreamTimeouts() (idle, creation time.Duration) {
	return h.cfg.StreamIdleTimeout, h.cfg.StreamCreationTimeout
}

// Serve serves h over TLS on addr (host:port) as virtual-kubelet's node serves its
// handler, until stop is called. It refuses a nil TLS configuration: the kubelet API is
// never served in plain HTTP.
func Serve(addr string, h *Handler, tlsConfig *tls.Config) (stop func(), err error) {
	if h == nil || tlsConfig == nil {
		return nil, errors.New("kubeletapi: the kubelet API needs a handler and a TLS configuration")
	}
	l, err := tls.Listen("tcp", addr, tlsConfig)
	if err != nil {
		return nil, fmt.Errorf("kubeletapi: listening on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, TLSConfig: tlsConfig, ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return func() {
		_ = srv.Close()
		_ = l.Close()
	}, nil
}
