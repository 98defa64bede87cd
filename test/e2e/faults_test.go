package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestUpperControlPlaneRestart stops the whole upper control plane (API server, etcd,
// controllers) with 20 pods running on a virtual node, and starts it again: the node
// is Ready again, and every pod is the same pod above and below, Running, with exactly
// one lower pod each (nothing re-created, nothing deleted, nothing left over).
func TestUpperControlPlaneRestart(t *testing.T) {
	ctx := context.Background()
	vn := startVirtualNode(t, "vk-upper-restart", lowerA)
	ns := createNamespace(t, upper, "uprestart")
	const total = 20
	for i := range total {
		try(upper.Client.CoreV1().Pods(ns).Create(ctx, virtualPod(ns, fmt.Sprintf("p-%02d", i), vn.Name), metav1.CreateOptions{})).must(t)
	}
	before := map[string][2]types.UID{}
	for i := range total {
		name := fmt.Sprintf("p-%02d", i)
		up, low := waitPodRunning(t, lowerA, ns, name, 60*time.Second)
		before[name] = [2]types.UID{up.UID, low.UID}
	}

	kwokctl(t, "stop", "cluster", "--name", "upper")
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			kwokctl(t, "start", "cluster", "--name", "upper")
		}
	})
	time.Sleep(15 * time.Second) // the node's lease and watches fail meanwhile
	kwokctl(t, "start", "cluster", "--name", "upper")
	restarted = true
	waitNodeReady(t, vn.Name, corev1.ConditionTrue, 90*time.Second)
	eventually(t, 90*time.Second, "the same 20 pods Running above and below, one lower pod each", func(ctx context.Context) (bool, string) {
		ups, err1 := upper.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		lows, err2 := lowerA.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err1 != nil || err2 != nil {
			return false, fmt.Sprint(err1, err2)
		}
		if len(ups.Items) != total || len(lows.Items) != total {
			return false, fmt.Sprintf("upper %d, lower %d pods", len(ups.Items), len(lows.Items))
		}
		lowUID := map[string]types.UID{}
		for _, l := range lows.Items {
			if l.Status.Phase != corev1.PodRunning {
				return false, fmt.Sprintf("lower %s %s", l.Name, l.Status.Phase)
			}
			lowUID[l.Name] = l.UID
		}
		for _, u := range ups.Items {
			want := before[u.Name]
			if u.UID != want[0] || lowUID[u.Name] != want[1] {
				return false, fmt.Sprintf("%s: upper %s (was %s), lower %s (was %s)", u.Name, u.UID, want[0], lowUID[u.Name], want[1])
			}
			if u.Status.Phase != corev1.PodRunning {
				return false, fmt.Sprintf("upper %s %s", u.Name, u.Status.Phase)
			}
		}
		return true, ""
	})
}
