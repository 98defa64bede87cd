package webhook

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"k8s.io/client-go/util/cert"
)

// SelfSigned generates a throw-away CA and a serving certificate it signed, valid for
// dnsNames and ips (at least one of them is required). It returns the serving key pair
// and the CA certificate in PEM, which is what a webhook registration's caBundle must
// hold for the API server to trust the serving certificate.
func SelfSigned(dnsNames []string, ips []net.IP) (tls.Certificate, []byte, error) {
	var host string
	switch {
	case len(dnsNames) > 0:
		host, dnsNames = dnsNames[0], dnsNames[1:]
	case len(ips) > 0:
		host, ips = ips[0].String(), ips[1:]
	default:
		return tls.Certificate{}, nil, errors.New("a self-signed certificate needs at least one DNS name or IP")
	}
	certPEM, keyPEM, err := cert.GenerateSelfSignedCertKey(host, ips, dnsNames)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("generating a self-signed certificate: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("loading the generated certificate: %w", err)
	}
	ca, err := caOf(certPEM)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return pair, ca, nil
}

// caOf returns, in PEM, the CA certificates of a chain (GenerateSelfSignedCertKey
// returns the serving certificate followed by its CA).
func caOf(chainPEM []byte) ([]byte, error) {
	certs, err := cert.ParseCertsPEM(chainPEM)
	if err != nil {
		return nil, fmt.Errorf("parsing the generated chain: %w", err)
	}
	var cas []*x509.Certificate
	for _, c := range certs {
		if c.IsCA {
			cas = append(cas, c)
		}
	}
	if len(cas) == 0 {
		return nil, errors.New("the generated chain holds no CA certificate")
	}
	return cert.EncodeCertificates(cas...)
}

// fileCertificate serves a key pair from files and reloads it when they change, so a
// certificate rotated on disk (for instance by cert-manager into a mounted Secret) is
// picked up without a restart.
type fileCertificate struct {
	certFile, keyFile string
	checkEvery        time.Duration

	mu        sync.Mutex
	current   *tls.Certificate
	modTime   time.Time
	lastCheck time.Time
}

// newFileCertificate loads certFile and keyFile, failing early when they are unusable.
func newFileCertificate(certFile, keyFile string) (*fileCertificate, error) {
	f := &fileCertificate{certFile: certFile, keyFile: keyFile, checkEvery: 10 * time.Second}
	if _, err := f.get(time.Now()); err != nil {
		return nil, err
	}
	return f, nil
}

// GetCertificate is a tls.Config.GetCertificate callback.
func (f *fileCertificate) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return f.get(time.Now())
}

func (f *fileCertificate) get(now time.Time) (*tls.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.current != nil && now.Sub(f.lastCheck) < f.checkEvery {
		return f.current, nil
	}
	f.lastCheck = now
	mod, err := newestModTime(f.certFile, f.keyFile)
	if err != nil || (f.current != nil && !mod.After(f.modTime)) {
		if f.current != nil {
			return f.current, nil // keep serving the last good pair
		}
		return nil, err
	}
	pair, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
	if err != nil {
		if f.current != nil {
			return f.current, nil // a half-written rotation: retry at the next check
		}
		return nil, fmt.Errorf("loading TLS key pair %s, %s: %w", f.certFile, f.keyFile, err)
	}
	f.current, f.modTime = &pair, mod
	return f.current, nil
}

func newestModTime(files ...string) (time.Time, error) {
	var newest time.Time
	for _, name := range files {
		st, err := os.Stat(name)
		if err != nil {
			return time.Time{}, fmt.Errorf("reading %s: %w", name, err)
		}
		if st.ModTime().After(newest) {
			newest = st.ModTime()
		}
	}
	return newest, nil
}

func readFile(name string) ([]byte, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return b, nil
}
