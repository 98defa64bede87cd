package kubeletapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/rest"
)

// fakeLower stands in for a lower cluster's API server: it serves pods, their logs,
// nodes and the nodes' proxy from canned data, and exec, attach and port-forward through
// virtual-kubelet's own kubelet handlers, the way an API server hands them to a kubelet.
type fakeLower struct {
	server *httptest.Server

	mu       sync.Mutex
	pods     map[string]*corev1.Pod
	nodes    []string
	proxied  map[string]string // "<node>/<path>" -> body
	logBody  string
	requests []*http.Request
	// proxyDelay, when set, delays each node proxy answer as a kubelet's would be.
	proxyDelay func(node string) time.Duration
	// proxyInFlight and proxyMaxInFlight count node proxy requests being answered.
	proxyInFlight, proxyMaxInFlight int

	// streams answers exec, attach and port-forward as a kubelet would.
	streams api.PodHandlerConfig
}

func newFakeLower(t testing.TB) *fakeLower {
	t.Helper()
	f := &fakeLower{pods: map[string]*corev1.Pod{}, proxied: map[string]string{}, logBody: "line 1\nline 2\n"}
	f.server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.server.Close)
	return f
}

// config returns a rest.Config for the fake.
func (f *fakeLower) config() *rest.Config {
	// No client-side rate limit: tests make more requests than client-go's default burst.
	return &rest.Config{Host: f.server.URL, QPS: 1000, Burst: 1000}
}

func (f *fakeLower) addPod(p *corev1.Pod) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pods[p.Namespace+"/"+p.Name] = p
}

// recorded returns the requests whose path ends with suffix.
func (f *fakeLower) recorded(suffix string) []*http.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*http.Request
	for _, r := range f.requests {
		if strings.HasSuffix(r.URL.Path, suffix) {
			out = append(out, r)
		}
	}
	return out
}

func (f *fakeLower) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.Clone(context.Background()))
	f.mu.Unlock()
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(parts) == 3 && parts[2] == "nodes":
		f.serveNodes(w)
	case len(parts) >= 5 && parts[2] == "nodes" && parts[4] == "proxy":
		f.serveNodeProxy(w, parts[3], strings.Join(parts[5:], "/"))
	case len(parts) == 6 && parts[4] == "pods":
		f.servePod(w, parts[3], parts[5])
	case len(parts) == 7 && parts[4] == "pods" && parts[6] == "log":
		if f.getPod(parts[3], parts[5]) == nil {
			writeStatus(w, http.StatusNotFound, "pods \""+parts[5]+"\" not found")
			return
		}
		_, _ = w.Write([]byte(f.logBody))
	case len(parts) == 7 && parts[4] == "pods":
		f.serveStream(w, r, parts[3], parts[5], parts[6])
	default:
		writeStatus(w, http.StatusNotFound, "no route for "+r.URL.Path)
	}
}

func (f *fakeLower) getPod(ns, name string) *corev1.Pod {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pods[ns+"/"+name]
}

func (f *fakeLower) servePod(w http.ResponseWriter, ns, name string) {
	p := f.getPod(ns, name)
	if p == nil {
		writeStatus(w, http.StatusNotFound, "pods \""+name+"\" not found")
		return
	}
	p = p.DeepCopy()
	p.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
	writeJSON(w, p)
}

func (f *fakeLower) serveNodes(w http.ResponseWriter) {
	f.mu.Lock()
	defer f.mu.Unlock()
	list := &corev1.NodeList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "NodeList"}}
	for _, n := range f.nodes {
		list.Items = append(list.Items, corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}})
	}
	writeJSON(w, list)
}

func (f *fakeLower) serveNodeProxy(w http.ResponseWriter, node, path string) {
	f.mu.Lock()
	body, ok := f.proxied[node+"/"+path]
	f.proxyInFlight++
	f.proxyMaxInFlight = max(f.proxyMaxInFlight, f.proxyInFlight)
	delay := f.proxyDelay
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.proxyInFlight--
		f.mu.Unlock()
	}()
	if delay != nil {
		time.Sleep(delay(node))
	}
	if !ok {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	_, _ = w.Write([]byte(body))
}

// serveStream turns an API server stream request into the kubelet request the API
// server would make and serves it with virtual-kubelet's handlers. WebSocket upgrades
// are refused, as by an API server that predates them, so the clients fall back to SPDY.
func (f *fakeLower) serveStream(w http.ResponseWriter, r *http.Request, ns, pod, sub string) {
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		writeStatus(w, http.StatusBadRequest, "websocket not supported")
		return
	}
	if f.getPod(ns, pod) == nil {
		writeStatus(w, http.StatusNotFound, "pods \""+pod+"\" not found")
		return
	}
	q := r.URL.Query()
	kq := url.Values{"command": q["command"]}
	for from, to := range map[string]string{"stdin": "input", "stdout": "output", "stderr": "error", "tty": "tty"} {
		if q.Get(from) == "true" {
			kq.Set(to, "1")
		}
	}
	var path string
	switch sub {
	case "exec", "attach":
		path = "/" + sub + "/" + ns + "/" + pod + "/" + q.Get("container")
	case "portforward":
		path = "/portForward/" + ns + "/" + pod
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path, r2.URL.RawQuery, r2.RequestURI = path, kq.Encode(), ""
	api.PodHandler(f.streams, false).ServeHTTP(w, r2)
}

func writeJSON(w http.ResponseWriter, obj any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(obj)
}

// writeStatus answers like an API server, with a Status the client decodes into an error.
func writeStatus(w http.ResponseWriter, code int, msg string) {
	reason := metav1.StatusReasonNotFound
	if code == http.StatusBadRequest {
		reason = metav1.StatusReasonBadRequest
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(&metav1.Status{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"},
		Status:   metav1.StatusFailure, Message: msg, Reason: reason, Code: int32(code),
	})
}

// testPod returns a lower pod with one container, c1, an init container and an
// ephemeral one.
func testPod(ns, name, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name)},
		Spec: corev1.PodSpec{
			NodeName:            node,
			Containers:          []corev1.Container{{Name: "c1"}},
			InitContainers:      []corev1.Container{{Name: "init"}},
			EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug"}}},
		},
	}
}

// newTestProxy returns a Proxy of the fake lower cluster.
func newTestProxy(t *testing.T, f *fakeLower, owned ...OwnedPod) *Proxy {
	t.Helper()
	p, err := NewProxy(Config{
		NodeName:    "vnode",
		LowerConfig: f.config(),
		OwnedPods:   func(context.Context) ([]OwnedPod, error) { return owned, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// allowAll is an Auth that lets every request through as user "tester".
func allowAll(t *testing.T) *Auth {
	t.Helper()
	a, err := NewAuth(AuthConfig{
		NodeName: "vnode",
		Authenticator: authenticator.RequestFunc(func(*http.Request) (*authenticator.Response, bool, error) {
			return &authenticator.Response{User: &user.DefaultInfo{Name: "tester"}}, true, nil
		}),
		Authorizer: authorizer.AuthorizerFunc(func(context.Context, authorizer.Attributes) (authorizer.Decision, string, error) {
			return authorizer.DecisionAllow, "", nil
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// newTestHandler serves p the way a virtual node does: virtual-kubelet's pod routes
// behind Handler.
func newTestHandler(t *testing.T, p *Proxy, auth *Auth) *httptest.Server {
	t.Helper()
	return newTestHandlerWith(t, p, auth, HandlerConfig{})
}

// newTestHandlerWith is newTestHandler with the timeouts of cfg.
func newTestHandlerWith(t *testing.T, p *Proxy, auth *Auth, cfg HandlerConfig) *httptest.Server {
	t.Helper()
	routes := api.PodHandler(api.PodHandlerConfig{
		RunInContainer:        p.RunInContainer,
		AttachToContainer:     p.AttachToContainer,
		GetContainerLogs:      p.GetContainerLogs,
		PortForward:           p.PortForward,
		StreamIdleTimeout:     DefaultStreamIdleTimeout,
		StreamCreationTimeout: DefaultStreamCreationTimeout,
	}, false)
	cfg.Routes, cfg.Proxy, cfg.Auth = routes, p, auth
	h, err := NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}
