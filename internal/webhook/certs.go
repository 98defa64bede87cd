package webhook

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"

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

func readFile(name string) ([]byte, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return b, nil
}
