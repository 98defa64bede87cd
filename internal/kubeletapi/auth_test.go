package kubeletapi

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/cert"
)

func TestSubresources(t *testing.T) {
	tests := []struct {
		path string
		want []string
	}{
		{"/stats/summary", []string{"stats"}},
		{"/stats", []string{"stats"}},
		{"/statsfoo", []string{"proxy"}},
		{"/metrics", []string{"metrics"}},
		{"/metrics/resource", []string{"metrics"}},
		{"/metrics/cadvisor", []string{"metrics"}},
		{"/logs/", []string{"log"}},
		{"/logs/kubelet.log", []string{"log"}},
		{"/spec/", []string{"spec"}},
		{"/pods", []string{"pods", "proxy"}},
		{"/runningpods/", []string{"pods", "proxy"}},
		{"/healthz", []string{"healthz", "proxy"}},
		{"/configz", []string{"configz", "proxy"}},
		{"/checkpoint/ns/p/c", []string{"checkpoint"}},
		{"/containerLogs/ns/p/c", []string{"proxy"}},
		{"/exec/ns/p/c", []string{"proxy"}},
		{"/attach/ns/p/c", []string{"proxy"}},
		{"/portForward/ns/p", []string{"proxy"}},
		{"/", []string{"proxy"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, subresources(tt.path)); diff != "" {
			t.Errorf("subresources(%q) (-want +got):\n%s", tt.path, diff)
		}
	}
}

func TestRequestAttributes(t *testing.T) {
	u := &user.DefaultInfo{Name: "alice"}
	for method, verb := range map[string]string{"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"} {
		r := httptest.NewRequest(method, "/pods", nil)
		attrs := requestAttributes("vnode", u, r)
		want := []authorizer.Attributes{
			authorizer.AttributesRecord{User: u, Verb: verb, APIVersion: "v1", Resource: "nodes", Subresource: "pods", Name: "vnode", ResourceRequest: true, Path: "/pods"},
			authorizer.AttributesRecord{User: u, Verb: verb, APIVersion: "v1", Resource: "nodes", Subresource: "proxy", Name: "vnode", ResourceRequest: true, Path: "/pods"},
		}
		if diff := cmp.Diff(want, attrs); diff != "" {
			t.Errorf("%s /pods (-want +got):\n%s", method, diff)
		}
	}
}

// fakeAuth returns an Auth whose authenticator knows the bearer tokens "alice" and
// "broken" (an authentication error), and whose authorizer is authz.
func fakeAuth(t *testing.T, authz authorizer.AuthorizerFunc) *Auth {
	t.Helper()
	a, err := NewAuth(AuthConfig{
		NodeName: "vnode",
		Authenticator: authenticator.RequestFunc(func(r *http.Request) (*authenticator.Response, bool, error) {
			switch r.Header.Get("Authorization") {
			case "Bearer alice":
				return &authenticator.Response{User: &user.DefaultInfo{Name: "alice"}}, true, nil
			case "Bearer broken":
				return nil, false, errors.New("token review failed")
			}
			return nil, false, nil
		}),
		Authorizer: authz,
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestFilter(t *testing.T) {
	// alice may read stats and use pods (but not proxy); "explode" fails authorization.
	authz := authorizer.AuthorizerFunc(func(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
		switch {
		case a.GetPath() == "/explode":
			return authorizer.DecisionNoOpinion, "", errors.New("SubjectAccessReview failed")
		case a.GetUser().GetName() == "alice" && (a.GetSubresource() == "stats" || a.GetSubresource() == "pods"):
			return authorizer.DecisionAllow, "", nil
		}
		return authorizer.DecisionNoOpinion, "", nil
	})
	h := fakeAuth(t, authz).Filter(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("served"))
	}))
	tests := []struct {
		name, token, path string
		want              int
		wantBody          string
	}{
		{name: "anonymous", path: "/stats/summary", want: http.StatusUnauthorized},
		{name: "unknown token", token: "mallory", path: "/stats/summary", want: http.StatusUnauthorized},
		{name: "authentication error", token: "broken", path: "/stats/summary", want: http.StatusUnauthorized},
		{name: "allowed", token: "alice", path: "/stats/summary", want: http.StatusOK, wantBody: "served"},
		{name: "fine-grained subresource", token: "alice", path: "/pods", want: http.StatusOK, wantBody: "served"},
		{name: "forbidden", token: "alice", path: "/exec/ns/p/c", want: http.StatusForbidden, wantBody: "Forbidden (user=alice, verb=get, resource=nodes, subresource(s)=[proxy])\n"},
		{name: "authorization error", token: "alice", path: "/explode", want: http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, tt.path, nil)
			if tt.token != "" {
				r.Header.Set("Authorization", "Bearer "+tt.token)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Errorf("status %d (%s), want %d", w.Code, w.Body.String(), tt.want)
			}
			if tt.wantBody != "" && w.Body.String() != tt.wantBody {
				t.Errorf("body %q, want %q", w.Body.String(), tt.wantBody)
			}
		})
	}
}

// TestNewAuthDelegates wires the real authenticators and authorizer to a fake upper
// cluster: client certificates against the CA file, tokens through TokenReview, every
// request through SubjectAccessReview.
func TestNewAuthDelegates(t *testing.T) {
	caCert, caKey := newCA(t, "upper-ca")
	otherCA, otherKey := newCA(t, "other-ca")
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	caPEM, err := cert.EncodeCertificates(caCert)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}

	client, sars := fakeReviewServer(t)

	auth, err := NewAuth(AuthConfig{NodeName: "vnode", Client: client, ClientCAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	if err := auth.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := auth.Filter(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))

	tests := []struct {
		name  string
		token string
		cert  *x509.Certificate
		want  int
	}{
		{name: "no credentials", want: http.StatusUnauthorized},
		{name: "good token", token: "good-token", want: http.StatusOK},
		{name: "bad token", token: "bad-token", want: http.StatusUnauthorized},
		{name: "client cert of the upper CA", cert: newClientCert(t, "kube-apiserver", caCert, caKey), want: http.StatusOK},
		{name: "client cert of the upper CA, unauthorized user", cert: newClientCert(t, "eve", caCert, caKey), want: http.StatusForbidden},
		{name: "client cert of another CA", cert: newClientCert(t, "kube-apiserver", otherCA, otherKey), want: http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/exec/ns/p/c", nil)
			if tt.token != "" {
				r.Header.Set("Authorization", "Bearer "+tt.token)
			}
			if tt.cert != nil {
				r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{tt.cert}}
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Errorf("status %d (%s), want %d", w.Code, strings.TrimSpace(w.Body.String()), tt.want)
			}
		})
	}
	if got := sars(); len(got) == 0 || got[0].ResourceAttributes.Verb != "create" {
		t.Errorf("SubjectAccessReviews: %+v", got)
	}
}

// TestClientCAFromConfigMap reads the client CA where the upper API server publishes it.
func TestClientCAFromConfigMap(t *testing.T) {
	caCert, caKey := newCA(t, "upper-ca")
	caPEM, err := cert.EncodeCertificates(caCert)
	if err != nil {
		t.Fatal(err)
	}
	client := fake.NewClientset(&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "extension-apiserver-authentication"},
		Data:       map[string]string{"client-ca-file": string(caPEM)},
	})
	allow := authorizer.AuthorizerFunc(func(context.Context, authorizer.Attributes) (authorizer.Decision, string, error) {
		return authorizer.DecisionAllow, "", nil
	})
	auth, err := NewAuth(AuthConfig{NodeName: "vnode", Client: client, Authorizer: allow})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := auth.Start(ctx); err != nil {
		t.Fatal(err)
	}
	h := auth.Filter(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	r := httptest.NewRequest(http.MethodGet, "/containerLogs/ns/p/c", nil)
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{newClientCert(t, "kube-apiserver", caCert, caKey)}}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Errorf("status %d (%s), want 200", w.Code, w.Body.String())
	}

	// Without the ConfigMap, Start fails rather than serving without client certificates.
	bare, err := NewAuth(AuthConfig{NodeName: "vnode", Client: fake.NewClientset(), Authorizer: allow})
	if err != nil {
		t.Fatal(err)
	}
	bare.caTimeout = time.Second
	if err := bare.Start(ctx); err == nil {
		t.Error("Start without the client CA ConfigMap: no error")
	}
}

// fakeReviewServer is an upper API server that answers TokenReview (only "good-token",
// as bob) and SubjectAccessReview (nodes/vnode/proxy for bob and kube-apiserver), and
// returns a client of it and the reviews it was asked. The webhooks post through the
// client's REST client, so a fake clientset will not do.
func fakeReviewServer(t *testing.T) (kubernetes.Interface, func() []authorizationv1.SubjectAccessReviewSpec) {
	t.Helper()
	var (
		mu   sync.Mutex
		sars []authorizationv1.SubjectAccessReviewSpec
	)
	upper := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/apis/authentication.k8s.io/v1/tokenreviews":
			tr := &authenticationv1.TokenReview{}
			_ = json.NewDecoder(r.Body).Decode(tr)
			if tr.Spec.Token == "good-token" {
				tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: "bob"}}
			}
			writeJSON(w, tr)
		case "/apis/authorization.k8s.io/v1/subjectaccessreviews":
			sar := &authorizationv1.SubjectAccessReview{}
			_ = json.NewDecoder(r.Body).Decode(sar)
			mu.Lock()
			sars = append(sars, sar.Spec)
			mu.Unlock()
			ra := sar.Spec.ResourceAttributes
			sar.Status.Allowed = ra != nil && ra.Resource == "nodes" && ra.Name == "vnode" && ra.Subresource == "proxy" &&
				(sar.Spec.User == "bob" || sar.Spec.User == "kube-apiserver")
			writeJSON(w, sar)
		default:
			writeStatus(w, http.StatusNotFound, r.URL.Path)
		}
	}))
	t.Cleanup(upper.Close)
	client, err := kubernetes.NewForConfig(&rest.Config{Host: upper.URL})
	if err != nil {
		t.Fatal(err)
	}
	return client, func() []authorizationv1.SubjectAccessReviewSpec {
		mu.Lock()
		defer mu.Unlock()
		return append([]authorizationv1.SubjectAccessReviewSpec(nil), sars...)
	}
}

func TestNewAuthValidates(t *testing.T) {
	if _, err := NewAuth(AuthConfig{NodeName: "vnode"}); err == nil {
		t.Error("NewAuth without Client nor replacements: no error")
	}
	if _, err := NewAuth(AuthConfig{Client: fake.NewClientset()}); err == nil {
		t.Error("NewAuth without NodeName: no error")
	}
}

func newCA(t *testing.T, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := cert.NewSelfSignedCACert(cert.Config{CommonName: name}, key)
	if err != nil {
		t.Fatal(err)
	}
	return ca, key
}

func newClientCert(t *testing.T, cn string, ca *x509.Certificate, caKey *ecdsa.PrivateKey) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
