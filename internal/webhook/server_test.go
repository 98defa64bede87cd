package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

func TestRegistrationBuild(t *testing.T) {
	if _, err := (Registration{Name: "x"}).Build(); err == nil {
		t.Error("registration without URL or Service accepted")
	}
	cfg, err := Registration{Name: "x", URL: "https://127.0.0.1:9443/mutate", CABundle: []byte("ca")}.Build()
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.Webhooks[0]
	switch {
	case *w.FailurePolicy != admissionregistrationv1.Fail:
		t.Errorf("failurePolicy %s", *w.FailurePolicy)
	case *w.ReinvocationPolicy != admissionregistrationv1.IfNeededReinvocationPolicy:
		t.Errorf("reinvocationPolicy %s", *w.ReinvocationPolicy)
	case w.ObjectSelector.MatchLabels[PodSelectorLabel] != "true":
		t.Errorf("objectSelector %v", w.ObjectSelector)
	case w.NamespaceSelector.MatchExpressions[0].Values[0] != "kube-system" ||
		w.NamespaceSelector.MatchExpressions[0].Operator != metav1.LabelSelectorOpNotIn:
		t.Errorf("namespaceSelector %v", w.NamespaceSelector)
	case *w.SideEffects != admissionregistrationv1.SideEffectClassNone || *w.ClientConfig.URL != "https://127.0.0.1:9443/mutate":
		t.Errorf("webhook %+v", w)
	}
}

func TestRegistrationBuildDaemonSets(t *testing.T) {
	cfg, err := Registration{Name: "x", URL: "https://127.0.0.1:9443/mutate", CABundle: []byte("ca"), FailurePolicy: admissionregistrationv1.Fail}.Build()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Webhooks) != 2 {
		t.Fatalf("%d webhooks, want pods and DaemonSets", len(cfg.Webhooks))
	}
	w := cfg.Webhooks[1]
	r := w.Rules[0]
	switch {
	case w.Name != DaemonSetWebhookName:
		t.Errorf("name %s", w.Name)
	case *w.FailurePolicy != admissionregistrationv1.Ignore:
		t.Errorf("failurePolicy %s, want Ignore whatever the pods webhook has", *w.FailurePolicy)
	case *w.ReinvocationPolicy != admissionregistrationv1.NeverReinvocationPolicy:
		t.Errorf("reinvocationPolicy %s", *w.ReinvocationPolicy)
	case w.ObjectSelector != nil || w.NamespaceSelector == nil || len(w.NamespaceSelector.MatchLabels)+len(w.NamespaceSelector.MatchExpressions) != 0:
		t.Errorf("selectors %v %v, want every DaemonSet, kube-system included", w.ObjectSelector, w.NamespaceSelector)
	case r.APIGroups[0] != "apps" || r.APIVersions[0] != "v1" || r.Resources[0] != "daemonsets" ||
		len(r.Operations) != 2 || r.Operations[0] != admissionregistrationv1.Create || r.Operations[1] != admissionregistrationv1.Update:
		t.Errorf("rule %+v", r)
	case *w.SideEffects != admissionregistrationv1.SideEffectClassNone || *w.ClientConfig.URL != "https://127.0.0.1:9443/mutate" || string(w.ClientConfig.CABundle) != "ca":
		t.Errorf("webhook %+v", w)
	}
	cfg, err = Registration{Name: "x", URL: "https://127.0.0.1:9443/mutate", SkipDaemonSets: true}.Build()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Webhooks) != 1 || cfg.Webhooks[0].Name != WebhookName {
		t.Errorf("SkipDaemonSets: webhooks %+v, want only %s", cfg.Webhooks, WebhookName)
	}
}

func TestApplyAndPatchCABundle(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	reg := Registration{Name: "tensile", Service: &admissionregistrationv1.ServiceReference{Namespace: "ns", Name: "svc"}, CABundle: []byte("one")}
	if err := reg.Apply(ctx, client.AdmissionregistrationV1()); err != nil {
		t.Fatal(err)
	}
	reg.CABundle = []byte("two")
	if err := reg.Apply(ctx, client.AdmissionregistrationV1()); err != nil {
		t.Fatal(err)
	}
	if got := caBundles(t, client); got != "two" {
		t.Fatalf("caBundle after update %q", got)
	}
	if err := PatchCABundle(ctx, client.AdmissionregistrationV1(), "tensile", []byte("three")); err != nil {
		t.Fatal(err)
	}
	if got := caBundles(t, client); got != "three" {
		t.Errorf("caBundle after patch %q", got)
	}
	if err := PatchCABundle(ctx, client.AdmissionregistrationV1(), "missing", []byte("x")); err == nil {
		t.Error("patching a missing registration succeeded")
	}
}

func caBundles(t *testing.T, client *fake.Clientset) string {
	t.Helper()
	cfg, err := client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(context.Background(), "tensile", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Every webhook (pods and DaemonSets) must trust the same CA.
	for _, w := range cfg.Webhooks[1:] {
		if string(w.ClientConfig.CABundle) != string(cfg.Webhooks[0].ClientConfig.CABundle) {
			t.Errorf("webhook %s has caBundle %q, %s has %q", w.Name, w.ClientConfig.CABundle, cfg.Webhooks[0].Name, cfg.Webhooks[0].ClientConfig.CABundle)
		}
	}
	return string(cfg.Webhooks[0].ClientConfig.CABundle)
}

func TestSelfSignedVerifies(t *testing.T) {
	pair, ca, err := SelfSigned([]string{"svc.ns.svc"}, []net.IP{net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	pool, err := cert.NewPoolFromBytes(ca)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"svc.ns.svc", "127.0.0.1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, _, err := SelfSigned(nil, nil); err == nil {
		t.Error("certificate without names generated")
	}
}

// TestServerGivenFiles: with given files the server serves them through
// internal/servingcert (which reloads them when rotated, tested there).
func TestServerGivenFiles(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	pair, _, err := SelfSigned([]string{"given"}, nil)
	noErr(t, err)
	keyPEM, err := keyutil.MarshalPrivateKeyToPEM(pair.PrivateKey)
	noErr(t, err)
	certPEM, err := cert.EncodeCertificates(pair.Leaf)
	noErr(t, err)
	noErr(t, cert.WriteCert(certFile, certPEM))
	noErr(t, keyutil.WriteKey(keyFile, keyPEM))
	s, err := NewServer(Config{Handler: NewHandler(HandlerConfig{}), Addr: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg, _, err := s.tlsConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	conn, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the test inspects what is served
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if got := conn.ConnectionState().PeerCertificates[0].Subject.CommonName; !strings.HasPrefix(got, "given@") {
		t.Errorf("served %q, want the given certificate", got)
	}
	if _, _, err := (&Server{cfg: Config{CertFile: filepath.Join(dir, "nope"), KeyFile: keyFile}}).tlsConfig(ctx); err == nil {
		t.Error("missing certificate accepted")
	}
}

func TestNewServerValidates(t *testing.T) {
	h := NewHandler(HandlerConfig{})
	for name, cfg := range map[string]Config{
		"no handler":            {Addr: ":0", CertDNSNames: []string{"x"}},
		"no address":            {Handler: h, CertDNSNames: []string{"x"}},
		"cert without key":      {Handler: h, Addr: ":0", CertFile: "c"},
		"nothing to generate":   {Handler: h, Addr: ":0"},
		"registration, no kube": {Handler: h, Addr: ":0", CertDNSNames: []string{"x"}, Registration: Registration{Name: "r"}},
	} {
		if _, err := NewServer(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// TestServerEndToEnd runs the server with a generated certificate and a managed
// registration, then calls it the way the API server would: over TLS, trusting only
// the caBundle the server wrote into the registration.
func TestServerEndToEnd(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := fake.NewClientset()
	addr, health := "127.0.0.1:"+freePort(t), "127.0.0.1:"+freePort(t)
	srv, err := NewServer(Config{
		Addr: addr, HealthAddr: health, CertIPs: []net.IP{net.ParseIP("127.0.0.1")},
		Registration:       Registration{Name: "tensile", URL: "https://" + addr + MutatePath},
		ManageRegistration: true,
		Handler:            NewHandler(HandlerConfig{Options: DefaultOptions()}),
		Kube:               client,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 10*time.Second, true,
		func(context.Context) (bool, error) { return srv.Ready(), nil }); err != nil {
		t.Fatalf("server not ready: %v", err)
	}
	pool, err := cert.NewPoolFromBytes([]byte(caBundles(t, client)))
	if err != nil {
		t.Fatal(err)
	}
	httpsClient := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := httpsClient.Post("https://"+addr+MutatePath, "application/json",
		bytes.NewReader(review(t, admissionv1.Create, podResource, podWith(nil))))
	if err != nil {
		t.Fatal(err)
	}
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if out.Response == nil || !out.Response.Allowed || out.Response.PatchType == nil || *out.Response.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Errorf("response %+v", out.Response)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		r, err := http.Get("http://" + health + path)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", path, r.StatusCode)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
