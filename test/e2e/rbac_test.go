package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
)

// rbacServiceAccount is the identity manifests/virtual-node/rbac-*.yaml create.
const rbacServiceAccount = "tensile-virtual-node"

// TestVirtualNodeLeastPrivilege proves that manifests/virtual-node/rbac-upper.yaml and
// rbac-lower.yaml are enough: a virtual node that authenticates to both clusters only
// with the tokens of their ServiceAccount registers, reports capacity, runs a pod with
// every kind of dependency (ConfigMap, Secret, PVC, ServiceAccount) and a Service,
// serves logs, exec, port-forward and stats, cleans up, and logs no
// "forbidden" error on the way (a missing rule shows up there as an informer or write
// error, often while everything else still works).
func TestVirtualNodeLeastPrivilege(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(repoRoot, "manifests", "virtual-node")
	applyRBAC(t, upper, filepath.Join(dir, "rbac-upper.yaml"))
	applyRBAC(t, lowerA, filepath.Join(dir, "rbac-lower.yaml"))
	upperKC := tokenKubeconfig(t, upper, "vk-rbac-upper")
	lowerKC := tokenKubeconfig(t, lowerA, "vk-rbac-lower-a")

	// The least-privilege role cannot approve kubelet-serving CSRs (by design), so the
	// node serves a self-signed certificate. --leader-elect exercises the Role on
	// kube-node-lease for the election Lease, not only the node's own Lease.
	vn := startVirtualNodeAs(t, "vk-rbac", lowerA, upperKC, lowerKC, "--self-signed-cert", "--leader-elect")

	var ns string
	t.Cleanup(func() { svcDeleteLowerNamespace([]*Cluster{lowerA}, ns) }) // after the upper one is gone
	ns = createNamespace(t, upper, "rbac")
	try(upper.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "conf"},
		Data: map[string]string{"k": "v"}}, metav1.CreateOptions{})).must(t)
	try(upper.Client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds"},
		Data: map[string][]byte{"p": []byte("s")}}, metav1.CreateOptions{})).must(t)
	try(upper.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder"}},
		metav1.CreateOptions{})).must(t)
	// The claim selects a pre-provisioned lower PV by label: the copy keeps the selector
	// and loses only the upper binding, so it binds below while it stays Pending above.
	rbacLowerPV(t, lowerA, ns)
	try(upper.Client.CoreV1().PersistentVolumeClaims(ns).Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: ptr.To(""),
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Selector:         &metav1.LabelSelector{MatchLabels: map[string]string{"tensile.dev/e2e": ns}},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("50Mi")}},
		},
	}, metav1.CreateOptions{})).must(t)
	pod := virtualPod(ns, "app", vn.Name)
	pod.Spec.ServiceAccountName = "builder"
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "conf", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "conf"}}}},
		{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
	}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "conf", MountPath: "/conf"}, {Name: "data", MountPath: "/data"}}
	pod.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "P", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "p"}}}}
	pod.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8080}}
	try(upper.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})).must(t)
	try(upper.Client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "app"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}, metav1.CreateOptions{})).must(t)

	t.Run("node is Ready with the lower cluster's capacity and publishes its summary", func(t *testing.T) {
		waitNodeReady(t, vn.Name, corev1.ConditionTrue, 10*time.Second)
		eventually(t, 30*time.Second, "capacity = Ready lower nodes' allocatable minus foreign pods' requests", func(ctx context.Context) (bool, string) {
			n, err := upper.Client.CoreV1().Nodes().Get(ctx, vn.Name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			nodes, err := lowerA.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err.Error()
			}
			var want, pods resource.Quantity
			for _, ln := range nodes.Items {
				if nodeReady(&ln) && !ln.Spec.Unschedulable {
					want.Add(ln.Status.Allocatable[corev1.ResourceCPU])
					pods.Add(ln.Status.Allocatable[corev1.ResourcePods])
				}
			}
			want.Sub(foreignCPU(ctx, t, lowerA, vn.Name))
			pods.Sub(*resource.NewQuantity(int64(rbacForeignPods(ctx, t, lowerA, vn.Name)), resource.DecimalSI))
			got, gotPods := n.Status.Allocatable[corev1.ResourceCPU], n.Status.Capacity[corev1.ResourcePods]
			return !want.IsZero() && got.Cmp(want) == 0 && gotPods.Cmp(pods) == 0,
				fmt.Sprintf("allocatable cpu %s, want %s; capacity pods %s, want %s", got.String(), want.String(), gotPods.String(), pods.String())
		})
		dyn := try(dynamic.NewForConfig(upper.Config)).must(t)
		eventually(t, 30*time.Second, "ClusterSummary "+vn.Name+" with the lower nodes", func(ctx context.Context) (bool, string) {
			u, err := dyn.Resource(v1alpha1.ClusterSummaryGVR).Get(ctx, vn.Name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			cs := &v1alpha1.ClusterSummary{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, cs); err != nil {
				return false, err.Error()
			}
			return cs.Status.VirtualNode == vn.Name && cs.Status.SchedulableNodeCount > 0,
				fmt.Sprintf("virtualNode %q, schedulable nodes %d", cs.Status.VirtualNode, cs.Status.SchedulableNodeCount)
		})
	})

	var podIP string
	t.Run("the pod runs below with its ConfigMap, Secret, PVC and ServiceAccount", func(t *testing.T) {
		up, low := waitPodRunning(t, lowerA, ns, "app", 60*time.Second)
		podIP = up.Status.PodIP
		if low.Spec.ServiceAccountName != "builder" || low.Labels[ownerLabel] != vn.Name {
			t.Errorf("lower pod: serviceAccount %q, labels %v", low.Spec.ServiceAccountName, low.Labels)
		}
		if podIP == "" || podIP != low.Status.PodIP {
			t.Errorf("pod IPs: upper %q, lower %q", podIP, low.Status.PodIP)
		}
		for what, get := range map[string]func(context.Context) (metav1.Object, error){
			"ConfigMap conf": func(ctx context.Context) (metav1.Object, error) {
				return lowerA.Client.CoreV1().ConfigMaps(ns).Get(ctx, "conf", metav1.GetOptions{})
			},
			"Secret creds": func(ctx context.Context) (metav1.Object, error) {
				return lowerA.Client.CoreV1().Secrets(ns).Get(ctx, "creds", metav1.GetOptions{})
			},
			"ServiceAccount builder": func(ctx context.Context) (metav1.Object, error) {
				return lowerA.Client.CoreV1().ServiceAccounts(ns).Get(ctx, "builder", metav1.GetOptions{})
			},
			"PersistentVolumeClaim data": func(ctx context.Context) (metav1.Object, error) {
				return lowerA.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data", metav1.GetOptions{})
			},
		} {
			if o, err := get(ctx); err != nil {
				t.Errorf("lower %s: %v", what, err)
			} else if o.GetLabels()[ownerLabel] != vn.Name {
				t.Errorf("lower %s: labels %v, want a copy owned by %s", what, o.GetLabels(), vn.Name)
			}
		}
		// Lower events (read below) are recorded on the upper pod (written above).
		eventually(t, 30*time.Second, "Scheduled event from below", func(ctx context.Context) (bool, string) {
			ev, err := findEvent(ctx, upper, ns, "app", "Scheduled", "virtual-node")
			return err == nil && ev != nil, fmt.Sprint(ev, err)
		})
	})

	t.Run("the Service and its EndpointSlice are reflected below", func(t *testing.T) {
		if podIP == "" {
			t.Fatal("no pod IP: the pod did not run")
		}
		if low := svcWaitService(t, lowerA, ns, "web", vn.Name); low.Spec.Selector != nil {
			t.Errorf("lower Service keeps a selector: %v", low.Spec.Selector)
		}
		svcWaitSliceIPs(t, lowerA, ns, "web", []string{podIP})
	})

	// The upper API server reaches the node's kubelet API with the admin client
	// certificate; the node authorizes it with a SubjectAccessReview (upper rules) and
	// reads the pod below through pods/log and pods/exec (lower rules). The test bed's
	// upper API server has no --kubelet-certificate-authority (hack/testbed.sh), so it
	// does not verify kubelet serving certificates and the self-signed one works: should
	// that change, this step fails rather than being skipped.
	t.Run("logs, exec and port-forward through the upper cluster", func(t *testing.T) {
		out, err := kubectl(t, upper, "-n", ns, "logs", "app")
		if err != nil || !strings.Contains(out, "tensile test bed: line 1") {
			t.Errorf("kubectl logs: %v\n%s", err, out)
		}
		out, err = kubectl(t, upper, "-n", ns, "exec", "app", "--", "echo", "least privilege")
		if err != nil || strings.TrimSpace(out) != "least privilege" {
			t.Errorf("kubectl exec: %v\n%s", err, out)
		}
		portForwardEcho(t, ns, "app")
	})

	// /stats/summary lists lower nodes and scrapes them through the lower node proxy
	// (nodes/proxy); KWOK nodes serve no stats, and the reason is logged, so a
	// forbidden scrape shows up in the log check below.
	t.Run("stats summary lists the pod", func(t *testing.T) {
		cfg := rest.CopyConfig(upper.Config)
		cfg.Insecure, cfg.CAFile, cfg.CAData = true, "", nil // the node's certificate is self-signed
		client := &http.Client{Transport: try(rest.TransportFor(cfg)).must(t), Timeout: 15 * time.Second}
		eventually(t, 30*time.Second, "/stats/summary with the pod", func(context.Context) (bool, string) {
			resp, err := client.Get("https://" + vn.KubeletAddr + "/stats/summary")
			if err != nil {
				return false, err.Error()
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp.StatusCode == http.StatusOK && strings.Contains(string(body), `"name":"app"`), fmt.Sprintf("%d %s", resp.StatusCode, body)
		})
	})

	t.Run("deleting the pod removes it and its dependencies below", func(t *testing.T) {
		noErr(t, upper.Client.CoreV1().Pods(ns).Delete(ctx, "app", metav1.DeleteOptions{}))
		// A PVC copy lives as long as its upper claim, not as long as the pod.
		noErr(t, upper.Client.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, "data", metav1.DeleteOptions{}))
		waitGone(t, "lower pod app", 60*time.Second, func(ctx context.Context) error {
			_, err := lowerA.Client.CoreV1().Pods(ns).Get(ctx, "app", metav1.GetOptions{})
			return err
		})
		waitGone(t, "upper pod app", 30*time.Second, func(ctx context.Context) error {
			_, err := upper.Client.CoreV1().Pods(ns).Get(ctx, "app", metav1.GetOptions{})
			return err
		})
		for what, get := range map[string]func(context.Context) error{
			"lower ConfigMap conf": func(ctx context.Context) error {
				_, err := lowerA.Client.CoreV1().ConfigMaps(ns).Get(ctx, "conf", metav1.GetOptions{})
				return err
			},
			"lower Secret creds": func(ctx context.Context) error {
				_, err := lowerA.Client.CoreV1().Secrets(ns).Get(ctx, "creds", metav1.GetOptions{})
				return err
			},
			"lower ServiceAccount builder": func(ctx context.Context) error {
				_, err := lowerA.Client.CoreV1().ServiceAccounts(ns).Get(ctx, "builder", metav1.GetOptions{})
				return err
			},
			"lower PersistentVolumeClaim data (after its upper claim)": func(ctx context.Context) error {
				_, err := lowerA.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data", metav1.GetOptions{})
				return err
			},
			"lower Service web": func(ctx context.Context) error {
				_, err := lowerA.Client.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
				return err
			},
		} {
			waitGone(t, what, 60*time.Second, get)
		}
		eventually(t, 60*time.Second, "lower EndpointSlices of web gone", func(ctx context.Context) (bool, string) {
			l, err := lowerA.Client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web"})
			if err != nil {
				return false, err.Error()
			}
			return len(l.Items) == 0, fmt.Sprintf("%d slices", len(l.Items))
		})
	})

	t.Run("the node is still Ready", func(t *testing.T) {
		waitNodeReady(t, vn.Name, corev1.ConditionTrue, 10*time.Second)
	})

	// Last, while the namespace still exists (its deletion makes writes into it
	// "forbidden" for every identity, admin included).
	t.Run("the virtual node logged no forbidden request", func(t *testing.T) {
		b, err := os.ReadFile(vn.Log)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(b)) < vn.LogStart {
			t.Fatalf("log %s shrank below where this run started", vn.Log)
		}
		text := string(b[vn.LogStart:])
		if !strings.Contains(text, "Became leader") {
			t.Fatalf("log %s has no line of this run's process:\n%s", vn.Log, text)
		}
		var bad []string
		for _, line := range strings.Split(text, "\n") {
			if forbidden.MatchString(line) {
				bad = append(bad, line)
			}
		}
		if len(bad) > 0 {
			if len(bad) > 20 {
				bad = append(bad[:20], fmt.Sprintf("... and %d more", len(bad)-20))
			}
			t.Errorf("%s logged requests its RBAC does not allow:\n%s", vn.Name, strings.Join(bad, "\n"))
		}
	})
}

var forbidden = regexp.MustCompile(`(?i)forbidden`)

// applyRBAC applies a manifest for real and deletes it when the test ends, unless some
// of its objects existed before (then the cluster is left as it was found, with them).
func applyRBAC(t testing.TB, c *Cluster, path string) {
	t.Helper()
	before, err := kubectl(t, c, "get", "-f", path, "--ignore-not-found", "-o", "name")
	if err != nil {
		t.Fatalf("kubectl get -f %s on %s: %v\n%s", path, c.Name, err, before)
	}
	if strings.TrimSpace(before) == "" {
		t.Cleanup(func() {
			if out, err := kubectl(t, c, "delete", "-f", path, "--ignore-not-found", "--wait=false"); err != nil {
				t.Errorf("kubectl delete -f %s on %s: %v\n%s", path, c.Name, err, out)
			}
		})
	} else {
		t.Logf("%s: %s existed before the test; left in place afterwards:\n%s", c.Name, filepath.Base(path), before)
	}
	applyFile(t, c, path)
}

// tokenKubeconfig writes a kubeconfig under the test bed that reaches c with the server
// and CA of its admin kubeconfig but authenticates only with a TokenRequest token of the
// manifests' ServiceAccount. It returns once that token is accepted and authorized (a
// fresh binding reaches the RBAC authorizer's cache a moment after it is created).
func tokenKubeconfig(t testing.TB, c *Cluster, name string) string {
	t.Helper()
	ctx := context.Background()
	tok := try(c.Client.CoreV1().ServiceAccounts(metav1.NamespaceSystem).CreateToken(ctx, rbacServiceAccount,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}},
		metav1.CreateOptions{})).must(t)
	admin := try(clientcmd.LoadFromFile(c.Kubeconfig)).must(t)
	noErr(t, clientcmd.ResolveLocalPaths(admin))
	kctx, ok := admin.Contexts[admin.CurrentContext]
	if !ok || admin.Clusters[kctx.Cluster] == nil {
		t.Fatalf("%s: no cluster in the current context %q", c.Kubeconfig, admin.CurrentContext)
	}
	cluster := admin.Clusters[kctx.Cluster].DeepCopy()
	if cluster.CertificateAuthority != "" && len(cluster.CertificateAuthorityData) == 0 {
		cluster.CertificateAuthorityData = try(os.ReadFile(cluster.CertificateAuthority)).must(t)
	}
	cluster.CertificateAuthority = ""
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[c.Name] = cluster
	cfg.AuthInfos[rbacServiceAccount] = &clientcmdapi.AuthInfo{Token: tok.Status.Token}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: c.Name, AuthInfo: rbacServiceAccount}
	cfg.CurrentContext = name
	path := filepath.Join(testbed, name+".kubeconfig")
	noErr(t, clientcmd.WriteToFile(*cfg, path))
	t.Cleanup(func() { _ = os.Remove(path) })

	restCfg := try(clientcmd.BuildConfigFromFlags("", path)).must(t)
	if len(restCfg.CertData) > 0 || restCfg.CertFile != "" || restCfg.BearerToken == "" {
		t.Fatalf("%s: want token authentication only", path)
	}
	client := try(kubernetes.NewForConfig(restCfg)).must(t)
	eventually(t, 30*time.Second, c.Name+": "+rbacServiceAccount+" can list nodes and pods", func(ctx context.Context) (bool, string) {
		if _, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{Limit: 1}); err != nil {
			return false, err.Error()
		}
		if _, err := client.CoreV1().Pods("").List(ctx, metav1.ListOptions{Limit: 1}); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	return path
}

// startVirtualNodeAs is startVirtualNode with the kubeconfigs given instead of the
// admin ones, and without --approve-own-csr. The node object and its election Lease
// are deleted when the test ends.
func startVirtualNodeAs(t testing.TB, name string, lower *Cluster, upperKubeconfig, lowerKubeconfig string, extra ...string) *VirtualNode {
	t.Helper()
	t.Cleanup(func() { // runs last: after the process stopped and the node was deleted
		_ = upper.Client.CoordinationV1().Leases("kube-node-lease").Delete(context.Background(), "virtual-node-"+name, metav1.DeleteOptions{})
	})
	return startVirtualNodeWith(t, name, lower, vnodeAuth{upperKubeconfig: upperKubeconfig, lowerKubeconfig: lowerKubeconfig}, extra...)
}

// rbacLowerPV creates a local PV in c, pinned to its first lower node and labelled for
// namespace ns, and deletes it when the test ends.
func rbacLowerPV(t testing.TB, c *Cluster, ns string) {
	t.Helper()
	nodes := try(c.Client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{LabelSelector: "type=kwok"})).must(t)
	if len(nodes.Items) == 0 {
		t.Fatalf("%s has no KWOK node", c.Name)
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"tensile.dev/e2e": ns}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              "",
			PersistentVolumeSource:        corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: "/tmp/" + ns}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn,
					Values: []string{nodes.Items[0].Labels[corev1.LabelHostname]}}},
			}}}},
		},
	}
	try(c.Client.CoreV1().PersistentVolumes().Create(context.Background(), pv, metav1.CreateOptions{})).must(t)
	t.Cleanup(func() {
		_ = c.Client.CoreV1().PersistentVolumes().Delete(context.Background(), pv.Name, metav1.DeleteOptions{})
	})
}

// rbacForeignPods counts the lower pods that take a pod slot and that the virtual node did
// not create (the same pods foreignCPU counts).
func rbacForeignPods(ctx context.Context, t testing.TB, c *Cluster, vnode string) int {
	pods := try(c.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})).must(t)
	n := 0
	for _, p := range pods.Items {
		if p.Labels[ownerLabel] != vnode && p.Spec.NodeName != "" && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			n++
		}
	}
	return n
}

// TestVirtualNodeLeastPrivilegeCSR covers the Deployment's default serving-certificate
// path with the least-privilege RBAC: the node requests a kubelet-serving certificate,
// an approver outside the node (here the test, as admin) approves it, the upper
// controller-manager signs it, and the node serves its kubelet API with it; nothing
// on the way is forbidden.
func TestVirtualNodeLeastPrivilegeCSR(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(repoRoot, "manifests", "virtual-node")
	applyRBAC(t, upper, filepath.Join(dir, "rbac-upper.yaml"))
	applyRBAC(t, lowerA, filepath.Join(dir, "rbac-lower.yaml"))
	vn := startVirtualNodeAs(t, "vk-rbac-csr", lowerA, tokenKubeconfig(t, upper, "vk-rbac-csr-upper"),
		tokenKubeconfig(t, lowerA, "vk-rbac-csr-lower-a"))
	requester := "system:serviceaccount:" + metav1.NamespaceSystem + ":" + rbacServiceAccount

	var csrName string
	eventually(t, 30*time.Second, "the node's kubelet-serving CSR", func(ctx context.Context) (bool, string) {
		l, err := upper.Client.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, c := range l.Items {
			if c.Spec.SignerName == certificatesv1.KubeletServingSignerName && c.Spec.Username == requester && len(c.Status.Conditions) == 0 {
				csrName = c.Name
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d CSRs, none pending from %s", len(l.Items), requester)
	})
	t.Cleanup(func() {
		_ = upper.Client.CertificatesV1().CertificateSigningRequests().Delete(context.Background(), csrName, metav1.DeleteOptions{})
	})
	csr := try(upper.Client.CertificatesV1().CertificateSigningRequests().Get(ctx, csrName, metav1.GetOptions{})).must(t)
	csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "E2E", Message: "approved by the e2e test, as an approver would",
	})
	try(upper.Client.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, csrName, csr, metav1.UpdateOptions{})).must(t)

	admin := try(clientcmd.BuildConfigFromFlags("", upper.Kubeconfig)).must(t)
	ca := admin.CAData
	if len(ca) == 0 {
		ca = try(os.ReadFile(admin.CAFile)).must(t)
	}
	roots := x509.NewCertPool() // the upper controller-manager signs with the cluster CA
	if !roots.AppendCertsFromPEM(ca) {
		t.Fatalf("no CA in %s", upper.Kubeconfig)
	}
	eventually(t, 60*time.Second, "the kubelet API serving the signed certificate", func(context.Context) (bool, string) {
		conn, err := tls.Dial("tcp", vn.KubeletAddr, &tls.Config{RootCAs: roots, ServerName: vn.Name, MinVersion: tls.VersionTLS12})
		if err != nil {
			return false, err.Error() // self-signed until the certificate arrives
		}
		defer conn.Close()
		leaf := conn.ConnectionState().PeerCertificates[0]
		return leaf.Subject.CommonName == "system:node:"+vn.Name, "subject " + leaf.Subject.String()
	})

	b := try(os.ReadFile(vn.Log)).must(t)
	for _, line := range strings.Split(string(b[vn.LogStart:]), "\n") {
		if forbidden.MatchString(line) {
			t.Errorf("%s logged a request its RBAC does not allow: %s", vn.Name, line)
		}
	}
}
