package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
)

var metav1GetOptions = metav1.GetOptions{}

// TestTestbed is the test bed's smoke test: KWOK runs the lower clusters' pods, the fake
// nodes report the configured shapes, and the upper cluster's worker is Ready.
func TestTestbed(t *testing.T) {
	ctx := context.Background()

	t.Run("lower nodes report the configured capacity", func(t *testing.T) {
		for _, c := range []struct {
			cluster *Cluster
			cpu     string
			memory  string
		}{{lowerA, "4", "16Gi"}, {lowerB, "8", "32Gi"}} {
			nodes, err := c.cluster.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(nodes.Items) != 3 {
				t.Fatalf("%s: %d nodes, want 3", c.cluster.Name, len(nodes.Items))
			}
			for _, n := range nodes.Items {
				alloc := n.Status.Allocatable
				if alloc.Cpu().Cmp(resource.MustParse(c.cpu)) != 0 || alloc.Memory().Cmp(resource.MustParse(c.memory)) != 0 || alloc.Pods().Value() != 110 {
					t.Errorf("%s/%s allocatable = %v, want cpu %s memory %s pods 110", c.cluster.Name, n.Name, alloc, c.cpu, c.memory)
				}
				if n.Labels["topology.kubernetes.io/zone"] == "" || n.Labels["kubernetes.io/hostname"] != n.Name {
					t.Errorf("%s/%s lacks zone/hostname labels: %v", c.cluster.Name, n.Name, n.Labels)
				}
				if !nodeReady(&n) {
					t.Errorf("%s/%s is not Ready", c.cluster.Name, n.Name)
				}
			}
		}
	})

	t.Run("upper fake worker is Ready", func(t *testing.T) {
		n, err := upper.Client.CoreV1().Nodes().Get(ctx, "upper-worker-0", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !nodeReady(n) {
			t.Fatalf("upper-worker-0 not Ready: %+v", n.Status.Conditions)
		}
	})

	t.Run("a Deployment in lower-a reaches Running on kwok nodes", func(t *testing.T) {
		ns := createNamespace(t, lowerA, "smoke")
		dep := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "smoke", Namespace: ns},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](3),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "smoke"}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "smoke"}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{
						Name: "c", Image: "busybox",
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}},
					}}},
				},
			},
		}
		if _, err := lowerA.Client.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 60*time.Second, "3 Running pods on kwok nodes", func(ctx context.Context) (bool, string) {
			pods, err := lowerA.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: labels.Set{"app": "smoke"}.String()})
			if err != nil {
				return false, err.Error()
			}
			running := 0
			for _, p := range pods.Items {
				if p.Status.Phase == corev1.PodRunning && p.Spec.NodeName != "" && p.Status.PodIP != "" {
					running++
				}
			}
			return running == 3, fmt.Sprintf("%d/%d running", running, len(pods.Items))
		})
	})
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// createNamespace creates a namespace with a unique name in c and deletes it afterwards.
func createNamespace(t testing.TB, c *Cluster, prefix string) string {
	t.Helper()
	ns, err := c.Client.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Wait (without failing) so the next test starts from a quiet cluster.
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		_ = c.Client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{})
		_ = wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			_, err := c.Client.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
	})
	return ns.Name
}
