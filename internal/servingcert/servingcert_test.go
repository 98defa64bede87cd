package servingcert

import (
	"context"
	"crypto/tls"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

// writePair writes a new self-signed pair for host to the files.
func writePair(t *testing.T, certFile, keyFile, host string) {
	t.Helper()
	c, k, err := cert.GenerateSelfSignedCertKey(host, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.WriteCert(certFile, c); err != nil {
		t.Fatal(err)
	}
	if err := keyutil.WriteKey(keyFile, k); err != nil {
		t.Fatal(err)
	}
}

// served returns the common name of the certificate a TLS server at addr serves.
func served(t *testing.T, addr string) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the test inspects what is served
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
}

// TestRotatedFilesAreServed: a real TLS listener on 127.0.0.1 serves the pair in the
// files, and the new one after the files are rotated on disk; a broken rotation leaves
// the last good pair served.
func TestRotatedFilesAreServed(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writePair(t, certFile, keyFile, "first")
	f, err := New("test", certFile, keyFile, &tls.Config{MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.Run(ctx)
	l, err := tls.Listen("tcp", "127.0.0.1:0", f.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	addr := l.Addr().String()

	if got := served(t, addr); !strings.HasPrefix(got, "first@") {
		t.Fatalf("served %q, want the first pair", got)
	}
	writePair(t, certFile, keyFile, "second")
	waitServed(t, addr, "second")
	if c, err := f.Current(); err != nil || !strings.HasPrefix(c.Leaf.Subject.CommonName, "second@") {
		t.Errorf("Current: %v, want the second pair", err)
	}

	if err := cert.WriteCert(certFile, []byte("not a certificate")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // a reload that wrongly took it would be done by now
	if got := served(t, addr); !strings.HasPrefix(got, "second@") {
		t.Errorf("after a broken rotation served %q, want the second pair still", got)
	}
}

// waitServed waits up to 20 s for addr to serve a certificate for host.
func waitServed(t *testing.T, addr, host string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := served(t, addr)
		if strings.HasPrefix(got, host+"@") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still serving %q 20 s after the files were rotated, want %s", got, host)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestNewRefusesUnusableFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := New("test", filepath.Join(dir, "nope.crt"), filepath.Join(dir, "nope.key"), &tls.Config{}); err == nil {
		t.Error("missing files accepted")
	}
}
