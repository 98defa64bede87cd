package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/tensile-kube/tensile/pkg/vnodeident"
)

// TestDaemonSets: an upper DaemonSet that tolerates every taint (as kube-proxy, CNI and
// CSI node plugins do) never gets a pod in a lower cluster unless it opts in. Without
// the webhook the virtual node refuses its pod (Failed, with a reason and an Event);
// with it the DaemonSet is kept off virtual nodes, so a rolling update completes.
func TestDaemonSets(t *testing.T) {
	ctx := context.Background()
	vn := startVirtualNode(t, "vk-ds", lowerA)
	ns := createNamespace(t, upper, "ds")

	t.Run("without the webhook the virtual node refuses the pod", func(t *testing.T) {
		start := time.Now()
		createDaemonSet(t, ns, "plain", nil)
		eventually(t, 60*time.Second, "the DaemonSet's pod on the virtual node refused", func(ctx context.Context) (bool, string) {
			pods := dsPods(ctx, t, ns, "plain", vn.Name)
			for _, p := range pods {
				if ev, err := findEventWith(ctx, upper, ns, p.Name, "DaemonSetPodRefused", eventFilter{host: vn.Name, since: start}); err == nil && ev != nil {
					return true, ""
				}
			}
			return false, fmt.Sprintf("%d pods on %s, none refused yet", len(pods), vn.Name)
		})
		dsNoLowerPods(t, ns, "plain")
		if err := upper.Client.AppsV1().DaemonSets(ns).Delete(ctx, "plain", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	})

	startWebhook(t, ns)
	t.Run("the webhook keeps the DaemonSet off virtual nodes and its rollout completes", func(t *testing.T) {
		ds := createDaemonSet(t, ns, "proxy", nil)
		eventually(t, 60*time.Second, "the DaemonSet Ready on the upper worker only", func(ctx context.Context) (bool, string) {
			got, err := upper.Client.AppsV1().DaemonSets(ns).Get(ctx, ds.Name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			s := got.Status
			return s.DesiredNumberScheduled >= 1 && s.NumberReady == s.DesiredNumberScheduled && s.ObservedGeneration == got.Generation,
				fmt.Sprintf("desired %d ready %d", s.DesiredNumberScheduled, s.NumberReady)
		})
		if pods := dsPods(ctx, t, ns, "proxy", vn.Name); len(pods) != 0 {
			t.Errorf("%d pods of the DaemonSet on %s, want none", len(pods), vn.Name)
		}
		// A rolling update, as a kube-proxy upgrade: re-admitted, still off virtual nodes.
		patch := `{"spec":{"template":{"metadata":{"annotations":{"e2e/rev":"2"}}}}}`
		if out, err := kubectl(t, upper, "-n", ns, "patch", "ds", ds.Name, "--type=merge", "-p", patch); err != nil {
			t.Fatalf("patch: %v: %s", err, out)
		}
		if out, err := kubectl(t, upper, "-n", ns, "rollout", "status", "ds/"+ds.Name, "--timeout=90s"); err != nil {
			t.Fatalf("rollout status: %v: %s", err, out)
		}
		if pods := dsPods(ctx, t, ns, "proxy", vn.Name); len(pods) != 0 {
			t.Errorf("%d pods of the DaemonSet on %s after the update, want none", len(pods), vn.Name)
		}
		dsNoLowerPods(t, ns, "proxy")
	})

	t.Run("a DaemonSet that opts in runs below", func(t *testing.T) {
		createDaemonSet(t, ns, "opted", map[string]string{vnodeident.AnnotationDaemonSetPods: vnodeident.ValueAllow})
		eventually(t, 60*time.Second, "the opted-in DaemonSet's pod Running below", func(ctx context.Context) (bool, string) {
			low, err := lowerA.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=opted"})
			if err != nil {
				return false, err.Error()
			}
			return len(low.Items) == 1 && low.Items[0].Status.Phase == corev1.PodRunning, fmt.Sprintf("%d lower pods", len(low.Items))
		})
	})
}

// createDaemonSet creates, in the upper namespace ns, a DaemonSet that tolerates every
// taint, with the given pod-template annotations.
func createDaemonSet(t *testing.T, ns, name string, annotations map[string]string) *appsv1.DaemonSet {
	t.Helper()
	labels := map[string]string{"app": name}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
				Spec: corev1.PodSpec{
					Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
					TerminationGracePeriodSeconds: ptr.To[int64](1),
					Containers:                    []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"sleep", "3600"}}},
				},
			},
		},
	}
	got, err := upper.Client.AppsV1().DaemonSets(ns).Create(context.Background(), ds, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// dsPods lists the upper pods of DaemonSet app bound to node.
func dsPods(ctx context.Context, t *testing.T, ns, app, node string) []corev1.Pod {
	t.Helper()
	list, err := upper.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app, FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// dsNoLowerPods checks that lower-a holds no pod of DaemonSet app.
func dsNoLowerPods(t *testing.T, ns, app string) {
	t.Helper()
	low, err := lowerA.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		t.Fatal(err)
	}
	if len(low.Items) != 0 {
		t.Errorf("lower-a runs %d pods of DaemonSet %s, want none", len(low.Items), app)
	}
}
