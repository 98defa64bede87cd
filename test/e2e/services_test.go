package e2e

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// TestServices proves the reflection of Services and EndpointSlices: an upper Service
// of a namespace that runs pods in both lower clusters exists in both, without
// selector, with its own cluster IP, and with slices listing every upper pod IP
// (whichever cluster runs the pod); scaling, deleting, headless Services, opt-outs and
// foreign lower Services behave as docs/virtual-node.md says.
func TestServices(t *testing.T) {
	ctx, top := context.Background(), t
	vkA := startVirtualNode(t, "vk-svc-a", lowerA)
	vkB := startVirtualNode(t, "vk-svc-b", lowerB)
	lowers := []*Cluster{lowerA, lowerB}
	owner := map[*Cluster]string{lowerA: vkA.Name, lowerB: vkB.Name} // the virtual node of each lower cluster
	var ns string
	t.Cleanup(func() { svcDeleteLowerNamespace(lowers, ns) }) // after the upper one is gone
	ns = createNamespace(t, upper, "svc")

	try(upper.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "web-config"},
		Data: map[string]string{"k": "v"}}, metav1.CreateOptions{})).must(t)
	try(upper.Client.AppsV1().Deployments(ns).Create(ctx, svcDeployment(ns, "web", 3), metav1.CreateOptions{})).must(t)
	svcWaitPods(t, ns, "web", 3, vkA.Name, vkB.Name)

	// The foreign lower Service exists before its upper namesake.
	foreign := try(lowerA.Client.CoreV1().Services(ns).Create(ctx, svcService(ns, "taken", nil), metav1.CreateOptions{})).must(t)
	for _, s := range []*corev1.Service{
		svcService(ns, "web", nil),
		svcService(ns, "web-headless", func(s *corev1.Service) { s.Spec.ClusterIP = corev1.ClusterIPNone }),
		svcService(ns, "private", func(s *corev1.Service) { s.Annotations = map[string]string{"tensile.dev/reflect": "false"} }),
		svcService(ns, "taken", nil),
		svcService(ns, "gone-while-down", nil),
	} {
		try(upper.Client.CoreV1().Services(ns).Create(ctx, s, metav1.CreateOptions{})).must(t)
	}
	upWeb := try(upper.Client.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})).must(t)

	t.Run("the Service exists below in both clusters, without selector, with its own cluster IP", func(t *testing.T) {
		for _, c := range lowers {
			low := svcWaitService(t, c, ns, "web", owner[c])
			if low.Spec.Selector != nil || low.Spec.ClusterIP == "" || low.Spec.ClusterIP == corev1.ClusterIPNone {
				t.Errorf("%s: selector %v, clusterIP %q: want no selector and a cluster IP of its own", c.Name, low.Spec.Selector, low.Spec.ClusterIP)
			}
			if low.Annotations["tensile.dev/upper-selector"] != `{"app":"web"}` {
				t.Errorf("%s: annotations %v, want the upper selector kept", c.Name, low.Annotations)
			}
			if diff := cmp.Diff(upWeb.Spec.Ports, low.Spec.Ports); diff != "" {
				t.Errorf("%s: ports (-upper +lower):\n%s", c.Name, diff)
			}
		}
	})

	t.Run("slices below list all 3 pod IPs, owned by the lower Service", func(t *testing.T) {
		for _, c := range lowers {
			svcWaitSliceIPs(t, c, ns, "web", svcPodIPs(t, ns, "web"))
		}
	})

	t.Run("scaling to 5 updates the slices below", func(t *testing.T) {
		d := try(upper.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})).must(t)
		d.Spec.Replicas = ptr.To[int32](5)
		try(upper.Client.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{})).must(t)
		svcWaitPods(t, ns, "web", 5, vkA.Name, vkB.Name)
		want := svcPodIPs(t, ns, "web")
		for _, c := range lowers {
			svcWaitSliceIPs(t, c, ns, "web", want)
		}
	})

	t.Run("a headless Service stays headless below", func(t *testing.T) {
		for _, c := range lowers {
			if low := svcWaitService(t, c, ns, "web-headless", owner[c]); low.Spec.ClusterIP != corev1.ClusterIPNone {
				t.Errorf("%s: clusterIP %q, want None", c.Name, low.Spec.ClusterIP)
			}
		}
	})

	t.Run("a Service annotated tensile.dev/reflect=false is not reflected", func(t *testing.T) {
		for _, c := range lowers {
			// web-headless was created after private: once it is below, private had its turn.
			svcWaitService(t, c, ns, "web-headless", owner[c])
			if _, err := c.Client.CoreV1().Services(ns).Get(ctx, "private", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("%s: private Service: err = %v, want NotFound", c.Name, err)
			}
		}
		// The decision was made (and logged at --v=2), not merely not yet.
		eventually(t, 30*time.Second, "the skip logged by vk-svc-a", func(context.Context) (bool, string) {
			b, err := os.ReadFile(vkA.Log)
			return err == nil && strings.Contains(string(b), `key="`+ns+`/private" reason="annotated tensile.dev/reflect=false"`), "not logged"
		})
	})

	t.Run("a foreign lower Service of the same name is left untouched", func(t *testing.T) {
		eventually(t, 30*time.Second, "ForeignObjectExists event on the upper Service", func(ctx context.Context) (bool, string) {
			ev, err := findEventWith(ctx, upper, ns, "taken", "ForeignObjectExists", eventFilter{host: vkA.Name})
			return err == nil && ev != nil, fmt.Sprint(err)
		})
		got := try(lowerA.Client.CoreV1().Services(ns).Get(ctx, "taken", metav1.GetOptions{})).must(t)
		if got.ResourceVersion != foreign.ResourceVersion || got.Labels[ownerLabel] != "" {
			t.Errorf("foreign Service changed: resourceVersion %s -> %s, labels %v", foreign.ResourceVersion, got.ResourceVersion, got.Labels)
		}
		svcWaitService(t, lowerB, ns, "taken", vkB.Name) // lower-b has no foreign one: reflected there
	})

	t.Run("a port change follows below", func(t *testing.T) {
		s := try(upper.Client.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})).must(t)
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "metrics", Port: 9090, TargetPort: intstr.FromInt32(9090), Protocol: corev1.ProtocolTCP})
		try(upper.Client.CoreV1().Services(ns).Update(ctx, s, metav1.UpdateOptions{})).must(t)
		for _, c := range lowers {
			eventually(t, 30*time.Second, c.Name+" Service web with port 9090", func(ctx context.Context) (bool, string) {
				low, err := c.Client.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
				if err != nil {
					return false, err.Error()
				}
				return len(low.Spec.Ports) == 2 && low.Spec.Ports[1].Port == 9090, fmt.Sprintf("ports %v", low.Spec.Ports)
			})
		}
	})

	t.Run("annotating the namespace tensile.dev/reflect=false removes its Services below; removing it restores them", func(t *testing.T) {
		svcAnnotateNamespace(t, ns, "false")
		for _, c := range lowers {
			for _, name := range []string{"web", "web-headless"} {
				waitGone(t, c.Name+" Service "+name, 30*time.Second, func(ctx context.Context) error {
					_, err := c.Client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
					return err
				})
			}
		}
		svcAnnotateNamespace(t, ns, "")
		for _, c := range lowers {
			svcWaitService(t, c, ns, "web", owner[c])
			svcWaitSliceIPs(t, c, ns, "web", svcPodIPs(t, ns, "web"))
		}
	})

	t.Run("deleting the Service removes it and its slices below", func(t *testing.T) {
		if err := upper.Client.CoreV1().Services(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, c := range lowers {
			waitGone(t, c.Name+" Service web", 30*time.Second, func(ctx context.Context) error {
				_, err := c.Client.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
				return err
			})
			eventually(t, 60*time.Second, c.Name+" slices of web gone", func(ctx context.Context) (bool, string) {
				l, err := c.Client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web"})
				if err != nil {
					return false, err.Error()
				}
				return len(l.Items) == 0, fmt.Sprintf("%d slices left", len(l.Items))
			})
		}
	})

	t.Run("at start, a copy whose upper Service is gone is removed; copies in use are kept", func(t *testing.T) {
		svcWaitService(t, lowerA, ns, "gone-while-down", vkA.Name)
		kept := map[string]string{
			"Service web-headless": string(svcWaitService(t, lowerA, ns, "web-headless", vkA.Name).UID),
			"ConfigMap web-config": string(try(lowerA.Client.CoreV1().ConfigMaps(ns).Get(ctx, "web-config", metav1.GetOptions{})).must(t).UID),
		}
		vkA.Stop(syscall.SIGTERM)
		if err := upper.Client.CoreV1().Services(ns).Delete(ctx, "gone-while-down", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		if _, err := lowerA.Client.CoreV1().Services(ns).Get(ctx, "gone-while-down", metav1.GetOptions{}); err != nil {
			t.Fatalf("the copy went while vk-svc-a was down (%v): the test proves nothing", err)
		}
		vkA.restart(top) // the process must outlive this subtest
		waitNodeReady(t, vkA.Name, corev1.ConditionTrue, 60*time.Second)
		waitGone(t, "lower-a Service gone-while-down", 60*time.Second, func(ctx context.Context) error {
			_, err := lowerA.Client.CoreV1().Services(ns).Get(ctx, "gone-while-down", metav1.GetOptions{})
			return err
		})
		time.Sleep(3 * time.Second) // what a wrong start-up sweep would delete is gone by now
		now := map[string]string{"Service web-headless": "", "ConfigMap web-config": ""}
		if s, err := lowerA.Client.CoreV1().Services(ns).Get(ctx, "web-headless", metav1.GetOptions{}); err == nil {
			now["Service web-headless"] = string(s.UID)
		}
		if c, err := lowerA.Client.CoreV1().ConfigMaps(ns).Get(ctx, "web-config", metav1.GetOptions{}); err == nil {
			now["ConfigMap web-config"] = string(c.UID)
		}
		if diff := cmp.Diff(kept, now); diff != "" {
			t.Errorf("copies in use were deleted or re-created across the restart (UIDs -before +after):\n%s", diff)
		}
	})

	t.Run("when no pod of the namespace runs below any more, its Services go", func(t *testing.T) {
		d := try(upper.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})).must(t)
		d.Spec.Replicas = ptr.To[int32](0)
		try(upper.Client.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{})).must(t)
		for _, c := range lowers {
			waitGone(t, c.Name+" Service web-headless", 60*time.Second, func(ctx context.Context) error {
				_, err := c.Client.CoreV1().Services(ns).Get(ctx, "web-headless", metav1.GetOptions{})
				return err
			})
		}
		svcWaitPods(t, ns, "web", 0) // gone above too, before the virtual nodes stop
		got := try(lowerA.Client.CoreV1().Services(ns).Get(ctx, "taken", metav1.GetOptions{})).must(t)
		if got.ResourceVersion != foreign.ResourceVersion {
			t.Errorf("foreign Service changed or removed: resourceVersion %s -> %s", foreign.ResourceVersion, got.ResourceVersion)
		}
	})
}

// svcDeployment is an upper Deployment of virtual pods, spread evenly over the virtual
// nodes by the upper default scheduler.
func svcDeployment(ns, name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					NodeSelector: map[string]string{"type": "virtual-kubelet"},
					Tolerations: []corev1.Toleration{{Key: "virtual-kubelet.io/provider", Operator: corev1.TolerationOpExists,
						Effect: corev1.TaintEffectNoSchedule}},
					TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: corev1.LabelHostname,
						WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: &metav1.LabelSelector{MatchLabels: labels}}},
					TerminationGracePeriodSeconds: ptr.To[int64](1),
					Containers: []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"sleep", "3600"},
						Ports:        []corev1.ContainerPort{{ContainerPort: 8080}},
						VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: "/config"}}}},
					Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{
						ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: name + "-config"}}}}},
				},
			},
		},
	}
}

func svcService(ns, name string, mutate func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	if mutate != nil {
		mutate(s)
	}
	return s
}

// svcWaitPods waits for n Running upper pods of app with IPs, on every given node.
func svcWaitPods(t *testing.T, ns, app string, n int, nodes ...string) {
	t.Helper()
	eventually(t, 90*time.Second, fmt.Sprintf("%d pods of %s Running with IPs on %v", n, app, nodes), func(ctx context.Context) (bool, string) {
		pods, err := upper.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
		if err != nil {
			return false, err.Error()
		}
		running, on := 0, map[string]int{}
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" {
				running++
				on[p.Spec.NodeName]++
			}
		}
		ok := running == n && len(pods.Items) == n
		for _, node := range nodes {
			ok = ok && on[node] > 0
		}
		return ok, fmt.Sprintf("%d pods, %d running with IPs, per node %v", len(pods.Items), running, on)
	})
}

// svcPodIPs returns the sorted IPs of the upper pods of app.
func svcPodIPs(t *testing.T, ns, app string) []string {
	t.Helper()
	pods := try(upper.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app})).must(t)
	var ips []string
	for _, p := range pods.Items {
		ips = append(ips, p.Status.PodIP)
	}
	sort.Strings(ips)
	return ips
}

// svcWaitService waits for the Service ns/name in c, reflected by the virtual node owner
// (marked with its name), and returns it.
func svcWaitService(t *testing.T, c *Cluster, ns, name, owner string) *corev1.Service {
	t.Helper()
	var got *corev1.Service
	eventually(t, 30*time.Second, fmt.Sprintf("Service %s/%s in %s owned by %s", ns, name, c.Name, owner), func(ctx context.Context) (bool, string) {
		s, err := c.Client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		got = s
		return s.Labels[ownerLabel] == owner, fmt.Sprintf("labels %v", s.Labels)
	})
	return got
}

// svcWaitSliceIPs waits until the lower slices of service list exactly want, each
// slice managed by the virtual node and owned by the lower Service.
func svcWaitSliceIPs(t *testing.T, c *Cluster, ns, service string, want []string) {
	t.Helper()
	eventually(t, 60*time.Second, fmt.Sprintf("%s slices of %s listing %v", c.Name, service, want), func(ctx context.Context) (bool, string) {
		svc, err := c.Client.CoreV1().Services(ns).Get(ctx, service, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		l, err := c.Client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
		if err != nil {
			return false, err.Error()
		}
		var got, problems []string
		for _, s := range l.Items {
			if s.Labels[discoveryv1.LabelManagedBy] != "virtual-node.tensile.dev" {
				problems = append(problems, s.Name+" managed by "+s.Labels[discoveryv1.LabelManagedBy])
			}
			if len(s.OwnerReferences) != 1 || s.OwnerReferences[0].UID != svc.UID {
				problems = append(problems, s.Name+" not owned by the lower Service")
			}
			for _, e := range s.Endpoints {
				got = append(got, e.Addresses...)
			}
		}
		sort.Strings(got)
		return len(problems) == 0 && cmp.Equal(want, got), fmt.Sprintf("addresses %v, problems %v", got, problems)
	})
}

// svcAnnotateNamespace sets (or with "" removes) tensile.dev/reflect on the upper namespace.
func svcAnnotateNamespace(t *testing.T, ns, value string) {
	t.Helper()
	n := try(upper.Client.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})).must(t)
	if n.Annotations == nil {
		n.Annotations = map[string]string{}
	}
	if value == "" {
		delete(n.Annotations, "tensile.dev/reflect")
	} else {
		n.Annotations["tensile.dev/reflect"] = value
	}
	try(upper.Client.CoreV1().Namespaces().Update(context.Background(), n, metav1.UpdateOptions{})).must(t)
}

func svcDeleteLowerNamespace(lowers []*Cluster, ns string) {
	for _, c := range lowers {
		_ = c.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	}
}

// TestServicesSystem proves --reflect-system-services: with it, a kube-system Service is
// reflected (no pod needed) while the lower cluster's own default/kubernetes stays
// untouched; without it (vk-svc-plain), kube-system Services stay above unless
// annotated tensile.dev/reflect=true.
func TestServicesSystem(t *testing.T) {
	ctx := context.Background()
	plain := startVirtualNode(t, "vk-svc-plain", lowerA)
	// The lower default/kubernetes's event below must be this run's: events outlive a test
	// on a kept test bed.
	sysStart := time.Now()
	sys := startVirtualNode(t, "vk-svc-sys", lowerB, "--reflect-system-services")
	lowerKube := try(lowerB.Client.CoreV1().Services(metav1.NamespaceDefault).Get(ctx, "kubernetes", metav1.GetOptions{})).must(t)
	for _, s := range []*corev1.Service{
		svcService(metav1.NamespaceSystem, "svc-e2e-system", nil),
		svcService(metav1.NamespaceSystem, "svc-e2e-optin", func(s *corev1.Service) {
			s.Annotations = map[string]string{"tensile.dev/reflect": "true"}
		}),
	} {
		try(upper.Client.CoreV1().Services(metav1.NamespaceSystem).Create(ctx, s, metav1.CreateOptions{})).must(t)
		name := s.Name
		t.Cleanup(func() {
			_ = upper.Client.CoreV1().Services(metav1.NamespaceSystem).Delete(context.Background(), name, metav1.DeleteOptions{})
			for _, c := range []*Cluster{lowerA, lowerB} {
				waitGone(t, c.Name+" Service "+name, 30*time.Second, func(ctx context.Context) error {
					_, err := c.Client.CoreV1().Services(metav1.NamespaceSystem).Get(ctx, name, metav1.GetOptions{})
					return err
				})
			}
		})
	}
	svcWaitService(t, lowerB, metav1.NamespaceSystem, "svc-e2e-system", sys.Name)
	svcWaitService(t, lowerB, metav1.NamespaceSystem, "svc-e2e-optin", sys.Name)
	svcWaitService(t, lowerA, metav1.NamespaceSystem, "svc-e2e-optin", plain.Name)
	if _, err := lowerA.Client.CoreV1().Services(metav1.NamespaceSystem).Get(ctx, "svc-e2e-system", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("lower-a (no --reflect-system-services): svc-e2e-system err = %v, want NotFound", err)
	}
	eventually(t, 30*time.Second, "ForeignObjectExists on the upper default/kubernetes from "+sys.Name, func(ctx context.Context) (bool, string) {
		ev, err := findEventWith(ctx, upper, metav1.NamespaceDefault, "kubernetes", "ForeignObjectExists", eventFilter{host: sys.Name, since: sysStart})
		return err == nil && ev != nil, fmt.Sprint(err)
	})
	got := try(lowerB.Client.CoreV1().Services(metav1.NamespaceDefault).Get(ctx, "kubernetes", metav1.GetOptions{})).must(t)
	if got.ResourceVersion != lowerKube.ResourceVersion || got.Labels[ownerLabel] != "" {
		t.Errorf("the lower default/kubernetes changed: resourceVersion %s -> %s, labels %v", lowerKube.ResourceVersion, got.ResourceVersion, got.Labels)
	}
}
