package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestStatusWrites: pods created through the virtual node reach Running upstairs with
// no resourceVersion conflict on pods/status (code 409) and at most two status writes
// per pod, counted by the upper API server itself (apiserver_request_total, read from
// its /metrics with the test bed's admin kubeconfig before and after the round).
func TestStatusWrites(t *testing.T) {
	const pods = 60
	vn := startVirtualNode(t, "vk-status-writes", lowerA)
	ns := createNamespace(t, upper, "status-writes")
	eventually(t, time.Minute, "the namespace's default ServiceAccount", func(ctx context.Context) (bool, string) {
		_, err := upper.Client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, fmt.Sprint(err)
	})
	ctx := context.Background()
	before, cpu := podStatusRequests(t), procCPU(t, vn.Cmd.Process.Pid)
	for i := range pods {
		p := virtualPod(ns, fmt.Sprintf("p-%d", i), vn.Name)
		if _, err := upper.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 3*time.Minute, fmt.Sprintf("%d pods Running and Ready upstairs", pods), func(ctx context.Context) (bool, string) {
		list, err := upper.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		ready := 0
		for i := range list.Items {
			if podReady(&list.Items[i]) {
				ready++
			}
		}
		return ready == pods, fmt.Sprintf("%d of %d Running and Ready", ready, pods)
	})
	// Writes that trail the transition (a late duplicate, a retried conflict) count
	// too: the virtual node re-checks every status within 10 s.
	time.Sleep(11 * time.Second)
	after, cpu := podStatusRequests(t), procCPU(t, vn.Cmd.Process.Pid)-cpu
	writes, conflicts := 0.0, 0.0
	var lines []string
	for k, v := range after {
		d := v - before[k]
		if d == 0 {
			continue
		}
		lines = append(lines, fmt.Sprintf("%s %s: %.0f", k.verb, k.code, d))
		if k.verb != "GET" && k.verb != "LIST" && k.verb != "WATCH" {
			writes += d
		}
		if k.code == "409" {
			conflicts += d
		}
	}
	sort.Strings(lines)
	t.Logf("pods/status requests for %d pods: %s; %.2f writes per pod; virtual node CPU %v", pods, strings.Join(lines, ", "), writes/pods, cpu)
	if conflicts != 0 {
		t.Errorf("%.0f pods/status requests answered 409 Conflict, want 0", conflicts)
	}
	if writes > 2*pods {
		t.Errorf("%.0f pods/status writes for %d pods (%.2f per pod), want at most 2 per pod", writes, pods, writes/pods)
	}
	if writes < pods {
		t.Errorf("%.0f pods/status writes for %d pods: fewer than one per pod, so the count missed the virtual node's writes", writes, pods)
	}
}

func podReady(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// requestKey is one verb and response code of apiserver_request_total.
type requestKey struct{ verb, code string }

var metricLabel = regexp.MustCompile(`(\w+)="([^"]*)"`)

// podStatusRequests reads the upper API server's apiserver_request_total for
// pods/status, by verb and code.
func podStatusRequests(t testing.TB) map[requestKey]float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	raw, err := upper.Client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		t.Fatalf("reading the upper API server's /metrics: %v", err)
	}
	out := map[requestKey]float64{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		end := strings.LastIndexByte(line, '}')
		labels := map[string]string{}
		for _, m := range metricLabel.FindAllStringSubmatch(line[:end], -1) {
			labels[m[1]] = m[2]
		}
		if labels["resource"] != "pods" || labels["subresource"] != "status" {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(line[end+1:]), 64)
		if err != nil {
			t.Fatalf("parsing %q: %v", line, err)
		}
		out[requestKey{labels["verb"], labels["code"]}] += v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
