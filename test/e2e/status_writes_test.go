package e2e

import (
	"context"
	"fmt"
	"sort"
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
	before, cpu := scrapeRequests(t, upper), procCPU(t, vn.Cmd.Process.Pid)
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
	delta, cpu := scrapeRequests(t, upper).since(before), procCPU(t, vn.Cmd.Process.Pid)-cpu
	writes, conflicts := delta.writes("pods", "status", ""), delta.writes("pods", "status", "409")
	var lines []string
	for k, v := range delta {
		if k.resource == "pods" && k.subresource == "status" {
			lines = append(lines, fmt.Sprintf("%s %s: %.0f", k.verb, k.code, v))
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
