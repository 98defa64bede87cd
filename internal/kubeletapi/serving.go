package kubeletapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/certificate"
	"k8s.io/client-go/util/keyutil"
	"k8s.io/klog/v2"

	"github.com/tensile-kube/tensile/internal/servingcert"
)

// ServingConfig configures a Serving. Without CertFile and KeyFile, the certificate is
// requested from the upper cluster with a kubernetes.io/kubelet-serving
// CertificateSigningRequest, as a kubelet with serverTLSBootstrap does, unless
// SelfSigned asks for the fallback a kubelet uses without it.
type ServingConfig struct {
	// NodeName is the virtual node's name; the certificate is for system:node:<NodeName>.
	// Required.
	NodeName string
	// Client is a client of the upper cluster, for the CertificateSigningRequests.
	// Required when neither CertFile nor SelfSigned is set.
	Client kubernetes.Interface
	// CertFile and KeyFile hold a serving certificate to use as it is.
	CertFile, KeyFile string
	// SelfSigned generates a self-signed certificate instead of requesting one: for
	// clusters that sign no kubelet-serving certificates or do not let the node ask.
	SelfSigned bool
	// CertDir keeps issued and self-signed certificates across restarts. Empty keeps
	// them in memory only.
	CertDir string
	// ApproveOwnCSR makes the node approve its own CertificateSigningRequests. Only for
	// test beds: it needs the right to approve kubelet-serving certificates, which a
	// node should not have; elsewhere an approver outside the node does it.
	ApproveOwnCSR bool
	// Hostnames and IPs are the certificate's subject alternative names: every name and
	// address the upper API server may reach the node by. Defaults to NodeName.
	Hostnames []string
	IPs       []net.IP
	// CertificateLifetime is the lifetime asked of the signer; it may give less.
	// Zero leaves it to the signer.
	CertificateLifetime time.Duration
}

// Serving provides the kubelet API's TLS configuration and keeps its certificate valid.
type Serving struct {
	cfg ServingConfig
	// files serves CertFile and KeyFile, reloaded when rotated.
	files    *servingcert.Files
	static   *tls.Certificate
	manager  certificate.Manager
	interim  *tls.Certificate
	approver *approver

	interimOnce sync.Once
}

// NewServing validates cfg, loads or creates what it can without the network and
// returns a Serving. In CSR mode nothing is requested before Start.
func NewServing(cfg ServingConfig) (*Serving, error) {
	if cfg.NodeName == "" {
		return nil, errors.New("kubeletapi: NodeName is required")
	}
	if (cfg.CertFile == "") != (cfg.KeyFile == "") {
		return nil, errors.New("kubeletapi: CertFile and KeyFile go together")
	}
	if len(cfg.Hostnames) == 0 && len(cfg.IPs) == 0 {
		cfg.Hostnames = []string{cfg.NodeName}
	}
	s := &Serving{cfg: cfg}
	switch {
	case cfg.CertFile != "":
		files, err := servingcert.New("kubelet-serving", cfg.CertFile, cfg.KeyFile, baseTLSConfig())
		if err != nil {
			return nil, fmt.Errorf("kubeletapi: %w", err)
		}
		s.files = files
	case cfg.SelfSigned:
		c, err := selfSigned(cfg)
		if err != nil {
			return nil, err
		}
		s.static = c
	default:
		if cfg.Client == nil {
			return nil, errors.New("kubeletapi: Client is required to request a serving certificate")
		}
		if err := s.newManager(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// newManager sets up the CSR path: client-go's certificate manager requests, stores and
// renews the certificate; a self-signed one is served until the first is issued, so that
// the HTTPS server is up from the start.
func (s *Serving) newManager() error {
	var store certificate.Store = &memoryStore{}
	if s.cfg.CertDir != "" {
		fs, err := certificate.NewFileStore("kubelet-server", s.cfg.CertDir, s.cfg.CertDir, "", "")
		if err != nil {
			return fmt.Errorf("kubeletapi: certificate store: %w", err)
		}
		store = fs
	}
	interim, err := selfSigned(ServingConfig{NodeName: s.cfg.NodeName, Hostnames: s.cfg.Hostnames, IPs: s.cfg.IPs})
	if err != nil {
		return err
	}
	s.interim = interim
	var lifetime *time.Duration
	if s.cfg.CertificateLifetime > 0 {
		lifetime = &s.cfg.CertificateLifetime
	}
	client := s.cfg.Client
	s.manager, err = certificate.NewManager(&certificate.Config{
		ClientsetFn:                  func(*tls.Certificate) (kubernetes.Interface, error) { return client, nil },
		Template:                     servingCSRTemplate(s.cfg.NodeName, s.cfg.Hostnames, s.cfg.IPs),
		SignerName:                   certificatesv1.KubeletServingSignerName,
		GetUsages:                    certificate.DefaultKubeletServingGetUsages,
		RequestedCertificateLifetime: lifetime,
		CertificateStore:             store,
		Name:                         "kubelet-serving",
	})
	if err != nil {
		return fmt.Errorf("kubeletapi: certificate manager: %w", err)
	}
	if s.cfg.ApproveOwnCSR {
		s.approver = newApprover(client, s.cfg.NodeName)
	}
	return nil
}

// servingCSRTemplate is the request a kubelet makes for its serving certificate; the
// kubelet-serving signer only signs requests of exactly this shape.
func servingCSRTemplate(nodeName string, hostnames []string, ips []net.IP) *x509.CertificateRequest {
	return &x509.CertificateRequest{
		Subject:     pkix.Name{CommonName: "system:node:" + nodeName, Organization: []string{"system:nodes"}},
		DNSNames:    hostnames,
		IPAddresses: ips,
	}
}

// Start starts requesting and renewing the certificate, and approving the node's own
// requests when so configured, or watching the given files, until ctx is done. With a
// self-signed certificate there is nothing to do.
func (s *Serving) Start(ctx context.Context) {
	if s.files != nil {
		s.files.Run(ctx)
		return
	}
	if s.manager == nil {
		return
	}
	s.manager.Start()
	go func() {
		<-ctx.Done()
		s.manager.Stop()
	}()
	if s.approver != nil {
		go s.approver.run(ctx)
	}
}

// TLSConfig returns the TLS configuration of the kubelet API server. Client
// certificates are requested but verified by Auth against the client CA, as kubelet
// does; HTTP/1.1 only, because exec, attach and port-forward upgrade the connection.
// Given files are served through internal/servingcert, which reloads them when rotated
// (after Start).
func (s *Serving) TLSConfig() *tls.Config {
	if s.files != nil {
		return s.files.TLSConfig()
	}
	cfg := baseTLSConfig()
	cfg.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.Certificate() }
	return cfg
}

// baseTLSConfig is the kubelet API's TLS settings, without a certificate.
func baseTLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, ClientAuth: tls.RequestClientCert, NextProtos: []string{"http/1.1"}}
}

// Certificate returns the certificate served now.
func (s *Serving) Certificate() (*tls.Certificate, error) {
	if s.files != nil {
		return s.files.Current()
	}
	if s.static != nil {
		return s.static, nil
	}
	if c := s.manager.Current(); c != nil {
		return c, nil
	}
	s.interimOnce.Do(func() {
		klog.Background().Info("Serving a temporary self-signed certificate until the kubelet-serving CSR is issued",
			"node", s.cfg.NodeName)
	})
	return s.interim, nil
}

// Issued reports whether a certificate requested through a CSR is being served.
func (s *Serving) Issued() bool {
	return s.manager != nil && s.manager.Current() != nil
}

// selfSigned returns a self-signed certificate for the node, reusing the one kept in
// CertDir if there is one, as kubelet does with kubelet.crt.
func selfSigned(cfg ServingConfig) (*tls.Certificate, error) {
	var certPath, keyPath string
	if cfg.CertDir != "" {
		certPath = filepath.Join(cfg.CertDir, "kubelet.crt")
		keyPath = filepath.Join(cfg.CertDir, "kubelet.key")
		if ok, _ := cert.CanReadCertAndKey(certPath, keyPath); ok {
			c, err := tls.LoadX509KeyPair(certPath, keyPath)
			if err != nil {
				return nil, fmt.Errorf("kubeletapi: self-signed certificate: %w", err)
			}
			return &c, nil
		}
	}
	certPEM, keyPEM, err := cert.GenerateSelfSignedCertKey(cfg.NodeName, cfg.IPs, cfg.Hostnames)
	if err != nil {
		return nil, fmt.Errorf("kubeletapi: generating self-signed certificate: %w", err)
	}
	if certPath != "" {
		if err := os.MkdirAll(cfg.CertDir, 0o700); err != nil {
			return nil, fmt.Errorf("kubeletapi: certificate directory: %w", err)
		}
		if err := cert.WriteCert(certPath, certPEM); err != nil {
			return nil, fmt.Errorf("kubeletapi: writing self-signed certificate: %w", err)
		}
		if err := keyutil.WriteKey(keyPath, keyPEM); err != nil {
			return nil, fmt.Errorf("kubeletapi: writing self-signed key: %w", err)
		}
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("kubeletapi: self-signed certificate: %w", err)
	}
	return &c, nil
}

// memoryStore keeps the issued certificate in memory, for nodes without a CertDir.
type memoryStore struct {
	mu   sync.Mutex
	cert *tls.Certificate
}

var _ certificate.Store = (*memoryStore)(nil)

// Current returns the stored certificate, or the error that makes the manager request
// one when there is none yet.
func (m *memoryStore) Current() (*tls.Certificate, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cert == nil {
		e := certificate.NoCertKeyError("no serving certificate issued yet")
		return nil, &e
	}
	return m.cert, nil
}

// Update stores a newly issued certificate and key.
func (m *memoryStore) Update(certPEM, keyPEM []byte) (*tls.Certificate, error) {
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("parsing issued certificate: %w", err)
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, fmt.Errorf("parsing issued certificate: %w", err)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cert = &c
	return &c, nil
}
