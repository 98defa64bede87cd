package kubeletapi

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tensile-kube/tensile/internal/eventually"
	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/util/cert"
)

func TestNewServingValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  ServingConfig
	}{
		{name: "no node name", cfg: ServingConfig{SelfSigned: true}},
		{name: "cert without key", cfg: ServingConfig{NodeName: "vnode", CertFile: "x.crt"}},
		{name: "CSR without client", cfg: ServingConfig{NodeName: "vnode"}},
		{name: "unreadable files", cfg: ServingConfig{NodeName: "vnode", CertFile: "/nonexistent.crt", KeyFile: "/nonexistent.key"}},
	}
	for _, tt := range tests {
		if _, err := NewServing(tt.cfg); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}

func TestServingFromFiles(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM, err := cert.GenerateSelfSignedCertKey("given", []net.IP{net.ParseIP("127.0.0.1")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := NewServing(ServingConfig{NodeName: "vnode", CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	if got := servedCert(t, s, nil); got.Subject.CommonName == "" || got.Issuer.CommonName == "" {
		t.Fatalf("served %v", got.Subject)
	} else if want, _ := cert.ParseCertsPEM(certPEM); !got.Equal(want[0]) {
		t.Errorf("served %v, want the given certificate", got.Subject)
	}

	// Rotated on disk, the files are served anew once Start watches them.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Start(ctx)
	certPEM, keyPEM, err = cert.GenerateSelfSignedCertKey("rotated", []net.IP{net.ParseIP("127.0.0.1")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, 20*time.Second, "the rotated certificate", func() bool {
		return strings.HasPrefix(servedCert(t, s, nil).Subject.CommonName, "rotated@")
	})
}

func TestServingSelfSignedIsKept(t *testing.T) {
	dir := t.TempDir()
	cfg := ServingConfig{NodeName: "vnode", SelfSigned: true, CertDir: dir, IPs: []net.IP{net.ParseIP("127.0.0.1")}}
	s1, err := NewServing(cfg)
	if err != nil {
		t.Fatal(err)
	}
	first := servedCert(t, s1, nil)
	s2, err := NewServing(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if second := servedCert(t, s2, nil); !first.Equal(second) {
		t.Error("a restarted node generated a new self-signed certificate instead of keeping its own")
	}
	if _, err := os.Stat(filepath.Join(dir, "kubelet.crt")); err != nil {
		t.Error(err)
	}
}

// TestServingCertificateFromCSR runs the CSR path against a fake upper cluster with a
// signer: the node serves a self-signed certificate at once, approves its own request,
// serves the issued certificate, and renews it before it expires.
func TestServingCertificateFromCSR(t *testing.T) {
	ca, caKey := newCA(t, "upper-ca")
	client := fakeUpperWithSigner(t, ca, caKey, 4*time.Second)
	s, err := NewServing(ServingConfig{NodeName: "vnode", Client: client, ApproveOwnCSR: true, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	if err != nil {
		t.Fatal(err)
	}
	if s.Issued() {
		t.Fatal("issued before start")
	}
	interim := servedCert(t, s, nil)
	if interim.Issuer.CommonName == ca.Subject.CommonName {
		t.Fatal("interim certificate issued by the CA")
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Start(ctx)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	var issued *x509.Certificate
	eventually.True(t, 20*time.Second, "the issued certificate", func() bool {
		if !s.Issued() {
			return false
		}
		issued = servedCert(t, s, pool)
		return true
	})
	if issued.Subject.CommonName != "system:node:vnode" || len(issued.Subject.Organization) != 1 ||
		issued.Subject.Organization[0] != "system:nodes" || !issued.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) {
		t.Errorf("issued certificate: subject %v, IPs %v", issued.Subject, issued.IPAddresses)
	}
	eventually.True(t, 20*time.Second, "a renewed certificate", func() bool {
		c, err := s.Certificate()
		return err == nil && c.Leaf != nil && c.Leaf.SerialNumber.Cmp(issued.SerialNumber) != 0
	})
}

func TestShouldApprove(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	request := func(tmpl *x509.CertificateRequest) []byte {
		der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	}
	good := servingCSRTemplate("vnode", []string{"vnode"}, nil)
	csr := func(mutate func(*certificatesv1.CertificateSigningRequest)) *certificatesv1.CertificateSigningRequest {
		c := &certificatesv1.CertificateSigningRequest{Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    request(good),
			SignerName: certificatesv1.KubeletServingSignerName,
			Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth},
			Username:   "vnode-user",
		}}
		if mutate != nil {
			mutate(c)
		}
		return c
	}
	tests := []struct {
		name string
		csr  *certificatesv1.CertificateSigningRequest
		want bool
	}{
		{name: "own serving request", csr: csr(nil), want: true},
		{name: "with key encipherment", csr: csr(func(c *certificatesv1.CertificateSigningRequest) {
			c.Spec.Usages = append(c.Spec.Usages, certificatesv1.UsageKeyEncipherment)
		}), want: true},
		{name: "someone else's request", csr: csr(func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Username = "mallory" })},
		{name: "already approved", csr: csr(func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue}}
		})},
		{name: "denied", csr: csr(func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateDenied, Status: corev1.ConditionTrue}}
		})},
		{name: "client signer", csr: csr(func(c *certificatesv1.CertificateSigningRequest) {
			c.Spec.SignerName = certificatesv1.KubeAPIServerClientKubeletSignerName
		})},
		{name: "client auth usage", csr: csr(func(c *certificatesv1.CertificateSigningRequest) {
			c.Spec.Usages = append(c.Spec.Usages, certificatesv1.UsageClientAuth)
		})},
		{name: "another node", csr: csr(func(c *certificatesv1.CertificateSigningRequest) {
			c.Spec.Request = request(servingCSRTemplate("other", []string{"other"}, nil))
		})},
		{name: "system:masters", csr: csr(func(c *certificatesv1.CertificateSigningRequest) {
			c.Spec.Request = request(&x509.CertificateRequest{Subject: pkix.Name{CommonName: "system:node:vnode", Organization: []string{"system:masters"}}, DNSNames: []string{"vnode"}})
		})},
		{name: "no SANs", csr: csr(func(c *certificatesv1.CertificateSigningRequest) {
			c.Spec.Request = request(&x509.CertificateRequest{Subject: good.Subject})
		})},
		{name: "email SAN", csr: csr(func(c *certificatesv1.CertificateSigningRequest) {
			c.Spec.Request = request(&x509.CertificateRequest{Subject: good.Subject, DNSNames: []string{"vnode"}, EmailAddresses: []string{"a@b.c"}})
		})},
		{name: "server auth alone, which the signer refuses", csr: csr(func(c *certificatesv1.CertificateSigningRequest) {
			c.Spec.Usages = []certificatesv1.KeyUsage{certificatesv1.UsageServerAuth}
		})},
		{name: "garbage", csr: csr(func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Request = []byte("nope") })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, why := shouldApprove(tt.csr, "vnode", "vnode-user"); got != tt.want {
				t.Errorf("shouldApprove = %v (%s), want %v", got, why, tt.want)
			}
		})
	}
}

// servedCert makes a TLS handshake with s's configuration, as the node's server does,
// and returns the certificate the client saw; with roots, the client verifies it.
func servedCert(t *testing.T, s *Serving, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", s.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	conn, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{RootCAs: roots, InsecureSkipVerify: roots == nil}) //nolint:gosec // the test inspects what is served
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

// fakeUpperWithSigner is a fake upper cluster that names CSRs and records their
// requester as an API server does, answers SelfSubjectReview with "vnode-user", and signs
// approved kubelet-serving requests with ca for lifetime, as kube-controller-manager does.
func fakeUpperWithSigner(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, lifetime time.Duration) *fake.Clientset {
	t.Helper()
	client := fake.NewClientset()
	var n atomic.Int32
	client.PrependReactor("create", "certificatesigningrequests", func(a clienttesting.Action) (bool, runtime.Object, error) {
		csr := a.(clienttesting.CreateAction).GetObject().(*certificatesv1.CertificateSigningRequest)
		if csr.Name == "" {
			csr.Name = fmt.Sprintf("%s%d", csr.GenerateName, n.Add(1))
		}
		csr.Spec.Username = "vnode-user"
		return false, nil, nil
	})
	client.PrependReactor("create", "selfsubjectreviews", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, &authenticationv1.SelfSubjectReview{Status: authenticationv1.SelfSubjectReviewStatus{
			UserInfo: authenticationv1.UserInfo{Username: "vnode-user"}}}, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go wait.UntilWithContext(ctx, func(ctx context.Context) {
		list, err := client.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
		if err != nil {
			return
		}
		for i := range list.Items {
			csr := &list.Items[i]
			if len(csr.Status.Certificate) > 0 || !approved(csr) {
				continue
			}
			csr.Status.Certificate = sign(t, csr.Spec.Request, ca, caKey, lifetime)
			_, _ = client.CertificatesV1().CertificateSigningRequests().UpdateStatus(ctx, csr, metav1.UpdateOptions{})
		}
	}, 100*time.Millisecond)
	return client
}

func approved(csr *certificatesv1.CertificateSigningRequest) bool {
	for _, c := range csr.Status.Conditions {
		if c.Type == certificatesv1.CertificateApproved {
			return true
		}
	}
	return false
}

// sign issues the certificate a CSR asks for.
func sign(t *testing.T, request []byte, ca *x509.Certificate, caKey *ecdsa.PrivateKey, lifetime time.Duration) []byte {
	block, _ := pem.Decode(request)
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		t.Error(err)
		return nil
	}
	now := time.Now()
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()),
		Subject:      req.Subject,
		DNSNames:     req.DNSNames,
		IPAddresses:  req.IPAddresses,
		NotBefore:    now.Add(-time.Second),
		NotAfter:     now.Add(lifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca, req.PublicKey, caKey)
	if err != nil {
		t.Error(err)
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
