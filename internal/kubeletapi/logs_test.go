package kubeletapi

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func TestPodLogOptions(t *testing.T) {
	since := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name string
		opts api.ContainerLogOpts
		raw  url.Values
		want *corev1.PodLogOptions
	}{
		{name: "no flags", want: &corev1.PodLogOptions{Container: "c1"}},
		{name: "--follow", opts: api.ContainerLogOpts{Follow: true}, want: &corev1.PodLogOptions{Container: "c1", Follow: true}},
		{name: "--previous", opts: api.ContainerLogOpts{Previous: true}, want: &corev1.PodLogOptions{Container: "c1", Previous: true}},
		{name: "--timestamps", opts: api.ContainerLogOpts{Timestamps: true}, want: &corev1.PodLogOptions{Container: "c1", Timestamps: true}},
		{name: "--since=1h", opts: api.ContainerLogOpts{SinceSeconds: 3600}, want: &corev1.PodLogOptions{Container: "c1", SinceSeconds: ptr.To[int64](3600)}},
		{name: "--since-time", opts: api.ContainerLogOpts{SinceTime: since}, want: &corev1.PodLogOptions{Container: "c1", SinceTime: &metav1.Time{Time: since}}},
		{name: "--tail=5", opts: api.ContainerLogOpts{Tail: 5}, want: &corev1.PodLogOptions{Container: "c1", TailLines: ptr.To[int64](5)}},
		{name: "--tail=0 seen in the query", raw: url.Values{"tailLines": {"0"}}, want: &corev1.PodLogOptions{Container: "c1", TailLines: ptr.To[int64](0)}},
		{name: "no tail without a query", opts: api.ContainerLogOpts{Tail: 0}, want: &corev1.PodLogOptions{Container: "c1"}},
		{name: "--limit-bytes=512", opts: api.ContainerLogOpts{LimitBytes: 512}, want: &corev1.PodLogOptions{Container: "c1", LimitBytes: ptr.To[int64](512)}},
		{name: "stream=Stderr", raw: url.Values{"stream": {"Stderr"}}, want: &corev1.PodLogOptions{Container: "c1", Stream: ptr.To("Stderr")}},
		{
			name: "everything",
			opts: api.ContainerLogOpts{Follow: true, Previous: true, Timestamps: true, SinceSeconds: 10, Tail: 3, LimitBytes: 7},
			raw:  url.Values{"tailLines": {"3"}},
			want: &corev1.PodLogOptions{Container: "c1", Follow: true, Previous: true, Timestamps: true,
				SinceSeconds: ptr.To[int64](10), TailLines: ptr.To[int64](3), LimitBytes: ptr.To[int64](7)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, podLogOptions("c1", tt.opts, tt.raw)); diff != "" {
				t.Errorf("podLogOptions (-want +got):\n%s", diff)
			}
		})
	}
}

// TestContainerLogsPassThrough sends the kubelet queries the upper API server sends for
// each kubectl logs flag and checks the pods/log request that reaches the lower API
// server: virtual-kubelet's parsing, podLogOptions and client-go's encoding together.
func TestContainerLogsPassThrough(t *testing.T) {
	tests := []struct {
		flag  string
		query string
		want  url.Values
	}{
		{flag: "(none)", query: "", want: url.Values{"container": {"c1"}}},
		{flag: "-f", query: "follow=true", want: url.Values{"container": {"c1"}, "follow": {"true"}}},
		{flag: "-p", query: "previous=true", want: url.Values{"container": {"c1"}, "previous": {"true"}}},
		{flag: "--timestamps", query: "timestamps=true", want: url.Values{"container": {"c1"}, "timestamps": {"true"}}},
		{flag: "--since=1h", query: "sinceSeconds=3600", want: url.Values{"container": {"c1"}, "sinceSeconds": {"3600"}}},
		{flag: "--since-time", query: "sinceTime=2024-01-02T03%3A04%3A05Z", want: url.Values{"container": {"c1"}, "sinceTime": {"2024-01-02T03:04:05Z"}}},
		{flag: "--tail=10", query: "tailLines=10", want: url.Values{"container": {"c1"}, "tailLines": {"10"}}},
		{flag: "--tail=0", query: "tailLines=0", want: url.Values{"container": {"c1"}, "tailLines": {"0"}}},
		{flag: "--limit-bytes=512", query: "limitBytes=512", want: url.Values{"container": {"c1"}, "limitBytes": {"512"}}},
		{flag: "stream=Stderr", query: "stream=Stderr", want: url.Values{"container": {"c1"}, "stream": {"Stderr"}}},
	}
	lower := newFakeLower(t)
	lower.addPod(testPod("ns", "p", "n1"))
	srv := newTestHandler(t, newTestProxy(t, lower), allowAll(t))
	for _, tt := range tests {
		t.Run(tt.flag, func(t *testing.T) {
			before := len(lower.recorded("/log"))
			resp, err := http.Get(srv.URL + "/containerLogs/ns/p/c1?" + tt.query)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(body) != lower.logBody {
				t.Fatalf("got %d %q, want 200 %q", resp.StatusCode, body, lower.logBody)
			}
			reqs := lower.recorded("/log")
			if len(reqs) != before+1 {
				t.Fatalf("lower pods/log requests: got %d, want %d", len(reqs), before+1)
			}
			if diff := cmp.Diff(tt.want, reqs[len(reqs)-1].URL.Query()); diff != "" {
				t.Errorf("lower pods/log query (-want +got):\n%s", diff)
			}
		})
	}
}

func TestContainerLogsErrors(t *testing.T) {
	lower := newFakeLower(t)
	lower.addPod(testPod("ns", "p", "n1"))
	srv := newTestHandler(t, newTestProxy(t, lower), allowAll(t))
	tests := []struct {
		name, path string
		want       int
	}{
		{name: "unknown pod", path: "/containerLogs/ns/nope/c1", want: http.StatusNotFound},
		{name: "unknown container", path: "/containerLogs/ns/p/nope", want: http.StatusNotFound},
		{name: "init container", path: "/containerLogs/ns/p/init", want: http.StatusOK},
		{name: "bad option", path: "/containerLogs/ns/p/c1?sinceSeconds=0", want: http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status: got %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

// TestGetContainerLogsMapsNames checks that the lower request goes to the mapped pod and
// that a pod the mapping refuses is not found.
func TestGetContainerLogsMapsNames(t *testing.T) {
	lower := newFakeLower(t)
	lower.addPod(testPod("lower-ns", "lower-p", "n1"))
	p, err := NewProxy(Config{
		NodeName:    "vnode",
		LowerConfig: lower.config(),
		OwnedPods:   func(context.Context) ([]OwnedPod, error) { return nil, nil },
		LowerName: func(_ context.Context, up types.NamespacedName) (types.NamespacedName, error) {
			if up.Name != "p" {
				return types.NamespacedName{}, notOurs(up)
			}
			return types.NamespacedName{Namespace: "lower-" + up.Namespace, Name: "lower-" + up.Name}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := p.GetContainerLogs(context.Background(), "ns", "p", "c1", api.ContainerLogOpts{})
	if err != nil {
		t.Fatal(err)
	}
	_ = rc.Close()
	if got := lower.recorded("/log"); len(got) != 1 || got[0].URL.Path != "/api/v1/namespaces/lower-ns/pods/lower-p/log" {
		t.Errorf("lower requests: %v", got)
	}
	_, err = p.GetContainerLogs(context.Background(), "ns", "other", "c1", api.ContainerLogOpts{})
	if StatusCode(err) != http.StatusNotFound {
		t.Errorf("refused pod: got %v (status %d), want 404", err, StatusCode(err))
	}
}
