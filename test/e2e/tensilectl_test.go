package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/tensile-kube/tensile/internal/join"
	"github.com/tensile-kube/tensile/internal/translate"
	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
)

// ctlNode and ctlNamespace are this test's own: no other test uses them.
const (
	ctlNode      = "vk-ctl"
	ctlNamespace = "tensilectl-e2e"
)

// TestTensilectl joins lower-b as vk-ctl with tensilectl, runs bin/virtual-node as a
// host process with exactly the kubeconfig and arguments join wrote, runs a pod through
// it, and unjoins; bad input is refused with a clear error and changes nothing, and
// after unjoin nothing of ours is left in either cluster.
func TestTensilectl(t *testing.T) {
	ctx := context.Background()
	// Best effort if a step failed half-way; runs after the virtual node stopped.
	t.Cleanup(func() {
		if inv := ctlInventory(t); len(inv) > 0 {
			out, err := ctlRun(t, "unjoin", "--lower-kubeconfig", lowerB.Kubeconfig, "--name", ctlNode, "--drain")
			t.Logf("cleanup unjoin: %v\n%s", err, out)
		}
	})
	if inv := ctlInventory(t); len(inv) > 0 {
		t.Fatalf("objects of %s exist before the test:\n%s", ctlNode, strings.Join(inv, "\n"))
	}
	joinArgs := []string{"join", "--lower-kubeconfig", lowerB.Kubeconfig, "--name", ctlNode, "--namespace", ctlNamespace, "--image", "tensile/virtual-node:e2e"}

	t.Run("bad input is refused and changes nothing", func(t *testing.T) {
		ctlBadInput(t, nil, [][]string{
			{"unreachable lower kubeconfig", "is unreachable", "join", "--lower-kubeconfig", ctlUnreachableKubeconfig(t), "--name", ctlNode, "--namespace", ctlNamespace},
			{"unauthorized lower kubeconfig", "is not allowed to: get serviceaccounts in namespace " + ctlNamespace,
				"join", "--lower-kubeconfig", ctlNobodyKubeconfig(t), "--name", ctlNode, "--namespace", ctlNamespace},
			{"missing CRDs above (lower-a as upper)", "lacks the CRDs [clustersummaries.tensile.dev placementexclusions.tensile.dev]",
				"join", "--upper-kubeconfig", lowerA.Kubeconfig, "--lower-kubeconfig", lowerB.Kubeconfig, "--name", ctlNode, "--namespace", ctlNamespace},
			{"name taken by a node", "the name upper-worker-0 is taken",
				"join", "--lower-kubeconfig", lowerB.Kubeconfig, "--name", "upper-worker-0", "--namespace", ctlNamespace},
			{"invalid name", `VK_X\": want a DNS label`, "join", "--lower-kubeconfig", lowerB.Kubeconfig, "--name", "VK_X"},
			{"no lower kubeconfig", "--lower-kubeconfig is required", "join", "--name", ctlNode},
			{"unjoin of a node never joined", "vk-ctl is not joined", "unjoin", "--lower-kubeconfig", lowerB.Kubeconfig, "--name", ctlNode},
		})
	})

	var joined []string
	t.Run("join creates every object, labelled", func(t *testing.T) {
		out := ctlMust(t, joinArgs...)
		if !strings.Contains(out, "Deployment "+ctlNamespace+"/tensile-"+ctlNode) || strings.Count(out, " created") < 10 {
			t.Errorf("join output:\n%s", out)
		}
		// The Deployment's pods (KWOK's, labelled by its template) come a moment later:
		// the inventory is taken once they are all there.
		eventually(t, 30*time.Second, "the Deployment's pods", func(ctx context.Context) (bool, string) {
			d, err := upper.Client.AppsV1().Deployments(ctlNamespace).Get(ctx, "tensile-"+ctlNode, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return d.Status.ObservedGeneration == d.Generation && d.Status.Replicas == ptr.Deref(d.Spec.Replicas, 1),
				fmt.Sprintf("%d of %d replicas", d.Status.Replicas, ptr.Deref(d.Spec.Replicas, 1))
		})
		joined = ctlInventory(t)
		for _, want := range []string{"upper Deployment", "upper Secret", "upper ClusterRole ", "upper RoleBinding", "upper ServiceAccount",
			"lower ServiceAccount", "lower Secret", "lower ConfigMap", "lower ClusterRole "} {
			if !slices.ContainsFunc(joined, func(s string) bool { return strings.HasPrefix(s, want) }) {
				t.Errorf("no %s labelled %s after join:\n%s", want, join.LabelManagedBy, strings.Join(joined, "\n"))
			}
		}
	})

	t.Run("join again changes nothing", func(t *testing.T) {
		out := ctlMust(t, joinArgs...)
		if strings.Contains(out, " created") || strings.Contains(out, " updated") {
			t.Errorf("second join wrote:\n%s", out)
		}
		if again := ctlInventory(t); !slices.Equal(again, joined) {
			t.Errorf("objects or resourceVersions changed:\nbefore:\n%s\nafter:\n%s", strings.Join(joined, "\n"), strings.Join(again, "\n"))
		}
	})

	t.Run("bad input after the join is refused and changes nothing", func(t *testing.T) {
		ctlBadInput(t, joined, [][]string{
			{"lower cluster already joined under another name", "is already joined as vk-ctl",
				"join", "--lower-kubeconfig", lowerB.Kubeconfig, "--name", "vk-ctl-2", "--namespace", ctlNamespace},
			{"the node already joined to another lower cluster", "vk-ctl is already joined to another lower cluster",
				"join", "--lower-kubeconfig", lowerA.Kubeconfig, "--name", ctlNode, "--namespace", ctlNamespace},
			{"unjoin with another lower cluster", "wrong --lower-kubeconfig", "unjoin", "--lower-kubeconfig", lowerA.Kubeconfig, "--name", ctlNode},
		})
	})

	vn := ctlStartVirtualNode(t)

	ns := createNamespace(t, upper, "ctl") // lives as long as the whole test
	// The steps after this one need the pod: without it they would only time out.
	if !t.Run("a pod bound to the node runs below", func(t *testing.T) {
		waitNodeReady(t, ctlNode, corev1.ConditionTrue, 60*time.Second)
		try(upper.Client.CoreV1().Pods(ns).Create(ctx, virtualPod(ns, "app", ctlNode), metav1.CreateOptions{})).must(t)
		_, low := waitPodRunning(t, lowerB, ns, "app", 60*time.Second)
		if low.Labels[translate.LabelVirtualNode] != ctlNode {
			t.Errorf("lower pod labels %v", low.Labels)
		}
	}) {
		t.FailNow()
	}

	t.Run("status shows the node Ready with its lower cluster reachable", func(t *testing.T) {
		eventually(t, 30*time.Second, "status row of "+ctlNode, func(context.Context) (bool, string) {
			out, err := ctlRun(t, "status")
			for _, line := range strings.Split(out, "\n") {
				f := strings.Fields(line)
				if len(f) == 8 && f[0] == ctlNode {
					return f[1] == "tensilectl" && f[2] == "yes" && f[3] == "True" && strings.HasPrefix(f[6], "1/") && f[7] != "-", out
				}
			}
			return false, fmt.Sprintf("%v\n%s", err, out)
		})
	})

	t.Run("unjoin refuses while a pod runs, and leaves the node cordoned", func(t *testing.T) {
		before := ctlInventory(t)
		out, err := ctlRun(t, "unjoin", "--lower-kubeconfig", lowerB.Kubeconfig, "--name", ctlNode)
		if err == nil || !strings.Contains(out, "1 pods run on vk-ctl: "+ns+"/app") || !strings.Contains(out, "--drain") {
			t.Fatalf("unjoin without --drain: %v\n%s", err, out)
		}
		if after := ctlInventory(t); !slices.Equal(after, before) {
			t.Errorf("a refused unjoin changed objects:\nbefore:\n%s\nafter:\n%s", strings.Join(before, "\n"), strings.Join(after, "\n"))
		}
		if n := try(upper.Client.CoreV1().Nodes().Get(ctx, ctlNode, metav1.GetOptions{})).must(t); !n.Spec.Unschedulable {
			t.Error("the node is not cordoned")
		}
	})

	t.Run("unjoin --drain removes everything", func(t *testing.T) {
		cmd := ctlCommand("unjoin", "--lower-kubeconfig", lowerB.Kubeconfig, "--name", ctlNode, "--drain")
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		noErr(t, cmd.Start())
		// What the upper cluster's kubelet would do: the Deployment is gone, so its pod,
		// the virtual node, stops.
		waitGone(t, "Deployment tensile-"+ctlNode, 90*time.Second, func(ctx context.Context) error {
			_, err := upper.Client.AppsV1().Deployments(ctlNamespace).Get(ctx, "tensile-"+ctlNode, metav1.GetOptions{})
			return err
		})
		vn.Stop(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("unjoin --drain: %v\n%s", err, out.String())
		}
		t.Logf("unjoin --drain:\n%s", out.String())
		if _, err := upper.Client.CoreV1().Pods(ns).Get(ctx, "app", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("upper pod app after drain: %v", err)
		}
		eventually(t, 60*time.Second, "nothing of "+ctlNode+" left in either cluster", func(context.Context) (bool, string) {
			inv := ctlInventory(t)
			return len(inv) == 0, strings.Join(inv, "\n")
		})
	})
}

// ctlCommand is bin/tensilectl against the test bed's upper cluster.
func ctlCommand(args ...string) *exec.Cmd {
	full := append([]string{args[0], "--upper-kubeconfig", upper.Kubeconfig, "--timeout", "60s"}, args[1:]...)
	// A later --upper-kubeconfig (a bad-input case) overrides the default one.
	return exec.Command(filepath.Join(binDir, "tensilectl"), full...)
}

// ctlRun runs tensilectl and returns its combined output.
func ctlRun(t testing.TB, args ...string) (string, error) {
	t.Helper()
	out, err := ctlCommand(args...).CombinedOutput()
	return string(out), err
}

// ctlMust runs tensilectl and fails the test, with its output, when it fails.
func ctlMust(t testing.TB, args ...string) string {
	t.Helper()
	out, err := ctlRun(t, args...)
	if err != nil {
		t.Fatalf("tensilectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// ctlBadInput runs each case {name, wanted message, args...}: it must fail with a
// non-zero exit code and the message, and leave ctlInventory as want.
func ctlBadInput(t *testing.T, want []string, cases [][]string) {
	for _, tc := range cases {
		t.Run(tc[0], func(t *testing.T) {
			out, err := ctlRun(t, tc[2:]...)
			if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() == 0 {
				t.Fatalf("exit: %v, want a non-zero exit code\n%s", err, out)
			}
			if !strings.Contains(out, tc[1]) {
				t.Errorf("output does not say %q:\n%s", tc[1], out)
			}
			if got := ctlInventory(t); !slices.Equal(got, want) {
				t.Errorf("objects changed:\nbefore:\n%s\nafter:\n%s", strings.Join(want, "\n"), strings.Join(got, "\n"))
			}
		})
	}
}

// ctlInventory lists, with resourceVersions, everything of ours in both clusters:
// objects labelled app.kubernetes.io/managed-by=tensilectl, lower copies owned by
// ctlNode, and the Node, Leases and ClusterSummary of ctlNode.
func ctlInventory(t testing.TB) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	upperID := string(try(upper.Client.CoreV1().Namespaces().Get(ctx, metav1.NamespaceSystem, metav1.GetOptions{})).must(t).UID)
	owner := translate.Owner{VirtualNode: ctlNode, UpperCluster: upperID}
	for _, c := range []*Cluster{upper, lowerB} {
		cl := try(join.LoadCluster(strings.SplitN(c.Name, "-", 2)[0], c.Kubeconfig, "")).must(t)
		kinds := append(append([]join.Kind{join.KindNamespace, join.KindPod}, join.JoinKinds...), join.CopyKinds...)
		for _, sel := range []string{join.LabelManagedBy + "=" + join.ValueManagedBy, owner.Selector().String()} {
			for _, k := range kinds {
				for _, o := range try(cl.List(ctx, k, sel)).must(t) {
					// A Deployment's status and a pod's change without us: their spec's
					// generation, or their existence, tells.
					line := fmt.Sprintf("%s %s rv=%s", cl.Role, join.Describe(o), o.GetResourceVersion())
					switch k {
					case join.KindDeployment:
						line = fmt.Sprintf("%s %s generation=%d", cl.Role, join.Describe(o), o.GetGeneration())
					case join.KindPod:
						line = fmt.Sprintf("%s %s", cl.Role, join.Describe(o))
					}
					if o.GetDeletionTimestamp() != nil {
						line += " (terminating)"
					}
					if !slices.Contains(out, line) {
						out = append(out, line)
					}
				}
			}
		}
	}
	if n, err := upper.Client.CoreV1().Nodes().Get(ctx, ctlNode, metav1.GetOptions{}); err == nil {
		out = append(out, "upper Node "+n.Name)
	}
	for _, name := range []string{ctlNode, "virtual-node-" + ctlNode} {
		if _, err := upper.Client.CoordinationV1().Leases("kube-node-lease").Get(ctx, name, metav1.GetOptions{}); err == nil {
			out = append(out, "upper Lease kube-node-lease/"+name)
		}
	}
	dyn := try(join.LoadCluster("upper", upper.Kubeconfig, "")).must(t).Dynamic
	if _, err := dyn.Resource(v1alpha1.ClusterSummaryGVR).Get(ctx, ctlNode, metav1.GetOptions{}); err == nil {
		out = append(out, "upper ClusterSummary "+ctlNode)
	}
	slices.Sort(out)
	return out
}

// ctlStartVirtualNode reads the Secret and Deployment join wrote and starts
// bin/virtual-node with that kubeconfig and the Deployment's container arguments, with
// what a host process needs instead of a pod: the upper admin kubeconfig instead of the
// in-cluster one, the kubeconfig file where the Secret would be mounted, --node-ip
// 127.0.0.1 instead of $(POD_IP), free loopback ports instead of 0.0.0.0:10250 and
// :10256, and --approve-own-csr (the test bed has no CSR approver).
func ctlStartVirtualNode(t *testing.T) *Process {
	t.Helper()
	ctx := context.Background()
	dep := try(upper.Client.AppsV1().Deployments(ctlNamespace).Get(ctx, "tensile-"+ctlNode, metav1.GetOptions{})).must(t)
	spec := dep.Spec.Template.Spec
	if len(spec.Containers) != 1 || len(spec.Volumes) != 1 || spec.Volumes[0].Secret == nil {
		t.Fatalf("Deployment spec: %+v", spec)
	}
	sec := try(upper.Client.CoreV1().Secrets(ctlNamespace).Get(ctx, spec.Volumes[0].Secret.SecretName, metav1.GetOptions{})).must(t)
	mount := spec.Containers[0].VolumeMounts[0].MountPath
	dir := t.TempDir()
	var kubeconfig string
	for key, b := range sec.Data {
		kubeconfig = filepath.Join(dir, key)
		noErr(t, os.WriteFile(kubeconfig, b, 0o600))
	}
	if b := try(os.ReadFile(kubeconfig)).must(t); strings.Contains(string(b), "client-certificate") || !strings.Contains(string(b), "token:") {
		t.Fatalf("the lower kubeconfig join wrote does not authenticate with a token alone:\n%s", b)
	}
	override := map[string]string{
		"--client-kubeconfig":    strings.Replace(argOf(spec.Containers[0].Args, "--client-kubeconfig"), mount, dir, 1),
		"--node-ip":              "127.0.0.1",
		"--listen-address":       fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"--metrics-bind-address": fmt.Sprintf("127.0.0.1:%d", freePort(t)),
	}
	args := []string{"--kubeconfig=" + upper.Kubeconfig, "--approve-own-csr", "--v=2"}
	for _, a := range spec.Containers[0].Args {
		flag, _, _ := strings.Cut(a, "=")
		if v, ok := override[flag]; ok {
			a = flag + "=" + v
		}
		args = append(args, a)
	}
	if got := argOf(args, "--client-kubeconfig"); got != kubeconfig {
		t.Fatalf("--client-kubeconfig %q, want the Secret's file %q", got, kubeconfig)
	}
	t.Logf("virtual-node %s", strings.Join(args, " "))
	t.Cleanup(func() { // after the process stopped: a failed run leaves no node behind
		_ = upper.Client.CoreV1().Nodes().Delete(context.Background(), ctlNode, metav1.DeleteOptions{})
	})
	return startProcess(t, ctlNode, "virtual-node", args...)
}

func argOf(args []string, flag string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v
		}
	}
	return ""
}

// ctlUnreachableKubeconfig is a kubeconfig of a server nobody listens on.
func ctlUnreachableKubeconfig(t *testing.T) string {
	c := &join.Cluster{Role: "lower", Config: &rest.Config{Host: "https://127.0.0.1:1", TLSClientConfig: rest.TLSClientConfig{Insecure: true}}}
	path := filepath.Join(t.TempDir(), "unreachable.kubeconfig")
	noErr(t, os.WriteFile(path, try(c.Kubeconfig("unreachable", "x")).must(t), 0o600))
	return path
}

// ctlNobodyKubeconfig is a kubeconfig of lower-b with the token of a ServiceAccount
// that no RBAC rule names.
func ctlNobodyKubeconfig(t *testing.T) string {
	ctx := context.Background()
	sas := lowerB.Client.CoreV1().ServiceAccounts(metav1.NamespaceDefault)
	try(sas.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "tensilectl-nobody"}}, metav1.CreateOptions{})).must(t)
	t.Cleanup(func() { _ = sas.Delete(context.Background(), "tensilectl-nobody", metav1.DeleteOptions{}) })
	tok := try(sas.CreateToken(ctx, "tensilectl-nobody", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}, metav1.CreateOptions{})).must(t)
	c := try(join.LoadCluster("lower", lowerB.Kubeconfig, "")).must(t)
	path := filepath.Join(t.TempDir(), "nobody.kubeconfig")
	noErr(t, os.WriteFile(path, try(c.Kubeconfig("nobody", tok.Status.Token)).must(t), 0o600))
	return path
}
