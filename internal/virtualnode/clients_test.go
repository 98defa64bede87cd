package virtualnode

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
)

// TestClientsSpeakContentType checks that connect's clientsets ask both API servers for
// the configured wire format of built-in kinds (protobuf by default), and JSON when told.
func TestClientsSpeakContentType(t *testing.T) {
	for _, tc := range []struct {
		flag, wantAccept string
	}{
		{"", runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON},
		{runtime.ContentTypeJSON, ""},
	} {
		t.Run("flag="+tc.flag, func(t *testing.T) {
			var mu sync.Mutex
			accepts := map[string]string{}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				switch r.URL.Path {
				case "/version":
					fmt.Fprint(w, `{"major":"1","minor":"35","gitVersion":"v1.35.0"}`)
				case "/api/v1/namespaces/kube-system":
					mu.Lock()
					accepts[r.Host] = r.Header.Get("Accept")
					mu.Unlock()
					fmt.Fprint(w, `{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"kube-system","uid":"u-1"}}`)
				default:
					http.NotFound(w, r)
				}
			}))
			defer srv.Close()
			dir := t.TempDir()
			kc := func(name, host string) string {
				p := filepath.Join(dir, name)
				cfg := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: %q}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n", host)
				if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
					t.Fatal(err)
				}
				return p
			}
			// Two names for one server tell the upper and the lower client apart.
			lowerURL := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
			o := NewOptions()
			o.NodeName, o.Kubeconfig, o.ClientKubeconfig = "vk", kc("upper", srv.URL), kc("lower", lowerURL)
			if tc.flag != "" {
				o.KubeAPIContentType = tc.flag
			}
			if _, err := connect(context.Background(), o); err != nil {
				t.Fatal(err)
			}
			if len(accepts) != 2 {
				t.Fatalf("namespace reads from %d hosts (%v), want the upper and the lower", len(accepts), accepts)
			}
			for host, got := range accepts {
				if tc.wantAccept == "" && strings.Contains(got, "protobuf") || tc.wantAccept != "" && got != tc.wantAccept {
					t.Errorf("Accept towards %s = %q, want %q", host, got, tc.wantAccept)
				}
			}
		})
	}
}
