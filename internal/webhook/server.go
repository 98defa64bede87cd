package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/tensile-kube/tensile/internal/opsserver"
	"github.com/tensile-kube/tensile/internal/servingcert"
)

// Config configures a Server.
type Config struct {
	// Addr is the HTTPS listen address of the webhook, e.g. ":9443".
	Addr string
	// HealthAddr is the plain HTTP listen address of /healthz, /readyz and /metrics;
	// empty disables it. Keep it on loopback unless probes must reach it.
	HealthAddr string
	// CertFile and KeyFile are the serving key pair. When both are empty a CA and a
	// serving certificate for CertDNSNames and CertIPs are generated at start.
	CertFile, KeyFile string
	// CABundleFile is the CA to write into the registration when CertFile is used;
	// empty leaves the registration's caBundle to someone else (e.g. cert-manager).
	CABundleFile string
	// CertDNSNames and CertIPs are the names a generated certificate is valid for.
	CertDNSNames []string
	CertIPs      []net.IP
	// Registration is the MutatingWebhookConfiguration to keep trusting this server.
	// Its Name enables caBundle patching; ManageRegistration also creates it.
	Registration       Registration
	ManageRegistration bool
	// Handler answers the reviews. Required.
	Handler http.Handler
	// Kube is the upper cluster's client, required when a registration is named.
	Kube kubernetes.Interface
	// Ready reports whether dependencies (such as the exclusion cache) are loaded;
	// nil means always.
	Ready func() bool
}

// Server runs the webhook's HTTPS endpoint and its health and metrics endpoint.
type Server struct {
	cfg     Config
	serving atomic.Bool
}

// NewServer validates cfg and returns a Server.
func NewServer(cfg Config) (*Server, error) {
	switch {
	case cfg.Handler == nil:
		return nil, errors.New("webhook server: a handler is required")
	case cfg.Addr == "":
		return nil, errors.New("webhook server: a listen address is required")
	case (cfg.CertFile == "") != (cfg.KeyFile == ""):
		return nil, errors.New("webhook server: give both --tls-cert-file and --tls-private-key-file, or neither")
	case cfg.CertFile == "" && len(cfg.CertDNSNames) == 0 && len(cfg.CertIPs) == 0:
		return nil, errors.New("webhook server: a generated certificate needs DNS names or IPs")
	case cfg.Registration.Name != "" && cfg.Kube == nil:
		return nil, errors.New("webhook server: a client is required to maintain the registration")
	}
	if cfg.Ready == nil {
		cfg.Ready = func() bool { return true }
	}
	return &Server{cfg: cfg}, nil
}

// Ready reports whether the server answers reviews with everything loaded.
func (s *Server) Ready() bool {
	return s.serving.Load() && s.cfg.Ready()
}

// Run serves until ctx ends, then shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	tlsCfg, ca, err := s.tlsConfig(ctx)
	if err != nil {
		return err
	}
	if err := s.register(ctx, ca); err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle(MutatePath, s.cfg.Handler)
	ln, err := tls.Listen("tcp", s.cfg.Addr, tlsCfg)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", s.cfg.Addr, err)
	}
	servers := []*http.Server{{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	listeners := []net.Listener{ln}
	if s.cfg.HealthAddr != "" {
		hl, err := net.Listen("tcp", s.cfg.HealthAddr)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("listening on %s: %w", s.cfg.HealthAddr, err)
		}
		servers = append(servers, &http.Server{Handler: opsserver.Mux(s.Ready), ReadHeaderTimeout: 10 * time.Second})
		listeners = append(listeners, hl)
	}
	errs := make(chan error, len(servers))
	for i := range servers {
		go func() { errs <- servers[i].Serve(listeners[i]) }()
	}
	s.serving.Store(true)
	logger.Info("Webhook serving", "addr", ln.Addr().String(), "path", MutatePath, "healthAddr", s.cfg.HealthAddr)
	select {
	case <-ctx.Done():
	case err = <-errs:
	}
	s.serving.Store(false)
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for _, srv := range servers {
		_ = srv.Shutdown(shutdownCtx)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}

// tlsConfig loads or generates the serving certificate and returns the CA the
// registration should trust (nil when unknown). Given files are reloaded when rotated,
// until ctx is done.
func (s *Server) tlsConfig(ctx context.Context) (*tls.Config, []byte, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.cfg.CertFile == "" {
		pair, ca, err := SelfSigned(s.cfg.CertDNSNames, s.cfg.CertIPs)
		if err != nil {
			return nil, nil, err
		}
		cfg.Certificates = []tls.Certificate{pair}
		return cfg, ca, nil
	}
	files, err := servingcert.New("webhook-serving", s.cfg.CertFile, s.cfg.KeyFile, cfg)
	if err != nil {
		return nil, nil, err
	}
	files.Run(ctx)
	if s.cfg.CABundleFile == "" {
		return files.TLSConfig(), nil, nil
	}
	ca, err := readFile(s.cfg.CABundleFile)
	return files.TLSConfig(), ca, err
}

// register makes the registration trust ca: creating or updating it when managed,
// otherwise patching its caBundle.
func (s *Server) register(ctx context.Context, ca []byte) error {
	reg := s.cfg.Registration
	if reg.Name == "" {
		return nil
	}
	client := s.cfg.Kube.AdmissionregistrationV1()
	if s.cfg.ManageRegistration {
		reg.CABundle = ca
		return reg.Apply(ctx, client)
	}
	if ca == nil {
		return nil
	}
	return PatchCABundle(ctx, client, reg.Name, ca)
}
