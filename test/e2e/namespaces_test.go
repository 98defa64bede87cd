package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// mapping is where one virtual node puts an upper namespace: a lower cluster and the
// namespace its --lower-namespace template gives.
type mapping struct {
	node  *VirtualNode
	lower *Cluster
	ns    string
}

// TestNamespaceMapping runs the Services scenario with --lower-namespace on: vk-map-a
// and vk-map-b map to "<ns>-up1" in lower-a and lower-b, and vk-map-a2, a second virtual
// node on lower-a with another template, to "vk-map-a2-<ns>". Pods, their dependencies,
// Services and slices live in the mapped namespaces only, the two nodes sharing lower-a
// do not collide, and status, logs and exec keep working.
func TestNamespaceMapping(t *testing.T) {
	ctx := context.Background()
	vkA := startVirtualNode(t, "vk-map-a", lowerA, "--lower-namespace={namespace}-{cluster}", "--upper-cluster-id=up1")
	vkB := startVirtualNode(t, "vk-map-b", lowerB, "--lower-namespace={namespace}-{cluster}", "--upper-cluster-id=up1", "--reflect-system-services")
	vkA2 := startVirtualNode(t, "vk-map-a2", lowerA, "--lower-namespace={node}-{namespace}")
	var places []mapping
	t.Cleanup(func() { // after the upper namespace is gone
		for _, p := range places {
			_ = p.lower.Client.CoreV1().Namespaces().Delete(context.Background(), p.ns, metav1.DeleteOptions{})
		}
		for _, n := range []string{"default-up1", "kube-system-up1"} {
			_ = lowerB.Client.CoreV1().Namespaces().Delete(context.Background(), n, metav1.DeleteOptions{})
		}
	})
	ns := createNamespace(t, upper, "map")
	places = []mapping{{vkA, lowerA, ns + "-up1"}, {vkB, lowerB, ns + "-up1"}, {vkA2, lowerA, "vk-map-a2-" + ns}}

	try(upper.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "web-config"},
		Data: map[string]string{"k": "v"}}, metav1.CreateOptions{})).must(t)
	try(upper.Client.AppsV1().Deployments(ns).Create(ctx, svcDeployment(ns, "web", 3), metav1.CreateOptions{})).must(t)
	svcWaitPods(t, ns, "web", 3, vkA.Name, vkB.Name, vkA2.Name)
	for _, s := range []*corev1.Service{
		svcService(ns, "web", nil),
		svcService(ns, "web-headless", func(s *corev1.Service) { s.Spec.ClusterIP = corev1.ClusterIPNone }),
	} {
		try(upper.Client.CoreV1().Services(ns).Create(ctx, s, metav1.CreateOptions{})).must(t)
	}

	t.Run("each pod runs in its node's mapped namespace, with its ConfigMap, and none in the upper namespace's name", func(t *testing.T) {
		pods := try(upper.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})).must(t)
		for _, up := range pods.Items {
			p := mappingOf(t, places, up.Spec.NodeName)
			low, err := p.lower.Client.CoreV1().Pods(p.ns).Get(ctx, up.Name, metav1.GetOptions{})
			if err != nil {
				t.Errorf("pod %s on %s: lower pod in %s/%s: %v", up.Name, up.Spec.NodeName, p.lower.Name, p.ns, err)
				continue
			}
			if low.Status.PodIP != up.Status.PodIP {
				t.Errorf("pod %s: upper IP %q, lower IP %q", up.Name, up.Status.PodIP, low.Status.PodIP)
			}
		}
		for _, p := range places {
			if _, err := p.lower.Client.CoreV1().ConfigMaps(p.ns).Get(ctx, "web-config", metav1.GetOptions{}); err != nil {
				t.Errorf("%s: ConfigMap web-config in %s: %v", p.node.Name, p.ns, err)
			}
			n := try(p.lower.Client.CoreV1().Namespaces().Get(ctx, p.ns, metav1.GetOptions{})).must(t)
			if n.Annotations["tensile.dev/upper-namespace"] != ns || n.Labels[ownerLabel] != p.node.Name {
				t.Errorf("%s: lower namespace %s: labels %v, annotations %v; want it marked as %s's, for %s", p.node.Name, p.ns, n.Labels, n.Annotations, p.node.Name, ns)
			}
		}
		for _, c := range []*Cluster{lowerA, lowerB} {
			if l, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err != nil || len(l.Items) > 0 {
				t.Errorf("%s: pods in the unmapped namespace %s: %v, %v; want none", c.Name, ns, l, err)
			}
		}
	})

	t.Run("the Service and slices listing all 3 pod IPs exist in every mapped namespace", func(t *testing.T) {
		want := svcPodIPs(t, ns, "web")
		for _, p := range places {
			if low := svcWaitService(t, p.lower, p.ns, "web", p.node.Name); low.Spec.Selector != nil || low.Spec.ClusterIP == corev1.ClusterIPNone {
				t.Errorf("%s: Service web in %s: selector %v, clusterIP %q", p.node.Name, p.ns, low.Spec.Selector, low.Spec.ClusterIP)
			}
			svcWaitSliceIPs(t, p.lower, p.ns, "web", want)
			if low := svcWaitService(t, p.lower, p.ns, "web-headless", p.node.Name); low.Spec.ClusterIP != corev1.ClusterIPNone {
				t.Errorf("%s: web-headless in %s: clusterIP %q, want None", p.node.Name, p.ns, low.Spec.ClusterIP)
			}
		}
	})

	t.Run("scaling to 5 updates the slices in every mapped namespace", func(t *testing.T) {
		d := try(upper.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})).must(t)
		d.Spec.Replicas = ptr.To[int32](5)
		try(upper.Client.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{})).must(t)
		svcWaitPods(t, ns, "web", 5, vkA.Name, vkB.Name, vkA2.Name)
		want := svcPodIPs(t, ns, "web")
		for _, p := range places {
			svcWaitSliceIPs(t, p.lower, p.ns, "web", want)
		}
	})

	t.Run("system Services go to mapped namespaces, created for them, beside the lower cluster's own", func(t *testing.T) {
		// Mapped, the upper default/kubernetes no longer meets the lower one: it is reflected.
		low := svcWaitService(t, lowerB, "default-up1", "kubernetes", vkB.Name)
		if low.Labels[ownerLabel] != vkB.Name {
			t.Errorf("default-up1/kubernetes: labels %v, want it marked as %s's", low.Labels, vkB.Name)
		}
		own := try(lowerB.Client.CoreV1().Services(metav1.NamespaceDefault).Get(ctx, "kubernetes", metav1.GetOptions{})).must(t)
		if own.Labels[ownerLabel] != "" {
			t.Errorf("the lower cluster's own default/kubernetes carries %v", own.Labels)
		}
	})

	t.Run("the two virtual nodes sharing lower-a do not collide", func(t *testing.T) {
		for _, name := range []string{"web", "web-headless"} {
			if ev, err := findEvent(ctx, upper, ns, name, "ForeignObjectExists"); err != nil || ev != nil {
				t.Errorf("Service %s: ForeignObjectExists event %v (%v): the nodes got in each other's way", name, ev, err)
			}
		}
		// Each mapped namespace holds its own node's copies, and only its node's pods.
		for _, p := range places {
			if s, err := p.lower.Client.CoreV1().Services(p.ns).Get(ctx, "web", metav1.GetOptions{}); err != nil {
				t.Errorf("%s: Service web in %s: %v", p.node.Name, p.ns, err)
			} else if s.Labels[ownerLabel] != p.node.Name {
				t.Errorf("%s: Service web in %s: labels %v, want it marked as %s's", p.node.Name, p.ns, s.Labels, p.node.Name)
			}
			if c, err := p.lower.Client.CoreV1().ConfigMaps(p.ns).Get(ctx, "web-config", metav1.GetOptions{}); err != nil {
				t.Errorf("%s: ConfigMap web-config in %s: %v", p.node.Name, p.ns, err)
			} else if c.Labels[ownerLabel] != p.node.Name {
				t.Errorf("%s: ConfigMap web-config in %s: labels %v, want it marked as %s's", p.node.Name, p.ns, c.Labels, p.node.Name)
			}
			pods, err := p.lower.Client.CoreV1().Pods(p.ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Errorf("%s: pods in %s: %v", p.node.Name, p.ns, err)
				continue
			}
			if len(pods.Items) == 0 {
				t.Errorf("%s: no pod in %s", p.node.Name, p.ns)
			}
			for _, low := range pods.Items {
				if low.Labels[ownerLabel] != p.node.Name {
					t.Errorf("%s: pod %s in %s: labels %v, want it marked as %s's", p.node.Name, low.Name, p.ns, low.Labels, p.node.Name)
				}
			}
		}
	})

	t.Run("logs and exec reach pods in mapped namespaces", func(t *testing.T) {
		pods := try(upper.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})).must(t)
		seen := map[string]bool{}
		for _, up := range pods.Items {
			if seen[up.Spec.NodeName] {
				continue
			}
			seen[up.Spec.NodeName] = true
			if out, err := kubectl(t, upper, "-n", ns, "logs", up.Name); err != nil || !strings.Contains(out, "line 1") {
				t.Errorf("kubectl logs %s (on %s): %v\n%s", up.Name, up.Spec.NodeName, err, out)
			}
			if out, err := kubectl(t, upper, "-n", ns, "exec", up.Name, "--", "echo", "mapped"); err != nil || strings.TrimSpace(out) != "mapped" {
				t.Errorf("kubectl exec %s (on %s): %v\n%s", up.Name, up.Spec.NodeName, err, out)
			}
		}
	})

	t.Run("deleting the Service removes it from every mapped namespace", func(t *testing.T) {
		if err := upper.Client.CoreV1().Services(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, p := range places {
			waitGone(t, p.node.Name+" Service web", 30*time.Second, func(ctx context.Context) error {
				_, err := p.lower.Client.CoreV1().Services(p.ns).Get(ctx, "web", metav1.GetOptions{})
				return err
			})
			eventually(t, 60*time.Second, p.node.Name+" slices of web gone", func(ctx context.Context) (bool, string) {
				l, err := p.lower.Client.DiscoveryV1().EndpointSlices(p.ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web"})
				if err != nil {
					return false, err.Error()
				}
				return len(l.Items) == 0, fmt.Sprintf("%d slices left", len(l.Items))
			})
		}
	})

	t.Run("scaled to 0, the upper pods finish and no lower pod is left", func(t *testing.T) {
		d := try(upper.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})).must(t)
		d.Spec.Replicas = ptr.To[int32](0)
		try(upper.Client.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{})).must(t)
		svcWaitPods(t, ns, "web", 0)
		for _, p := range places {
			eventually(t, 30*time.Second, p.node.Name+" lower pods gone from "+p.ns, func(ctx context.Context) (bool, string) {
				l, err := p.lower.Client.CoreV1().Pods(p.ns).List(ctx, metav1.ListOptions{})
				if err != nil {
					return false, err.Error()
				}
				return len(l.Items) == 0, fmt.Sprintf("%d pods left", len(l.Items))
			})
		}
	})
}

func mappingOf(t *testing.T, places []mapping, node string) mapping {
	t.Helper()
	for _, p := range places {
		if p.node.Name == node {
			return p
		}
	}
	t.Fatalf("pod on unexpected node %q", node)
	return mapping{}
}
