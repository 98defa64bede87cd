package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestMissingDependencies: a pod whose Secret is missing above never gets a lower pod
// that would read the lower cluster's Secret of that name; it waits Pending as on a
// kubelet (a restartPolicy Never pod is not failed), with an Event naming the Secret,
// and starts once the Secret exists above.
func TestMissingDependencies(t *testing.T) {
	ctx := context.Background()
	vn := startVirtualNode(t, "vk-deps", lowerA)
	ns := createNamespace(t, upper, "deps")
	// The lower cluster's own Secret of the name, which an upper user must never read.
	if _, err := lowerA.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = lowerA.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	lowerSecret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "late", Namespace: ns}, StringData: map[string]string{"k": "lower"}}
	if _, err := lowerA.Client.CoreV1().Secrets(ns).Create(ctx, lowerSecret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	pod := virtualPod(ns, "needs-late", vn.Name)
	pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	pod.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "K", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "late"}, Key: "k"}}}}
	if _, err := upper.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	eventually(t, 30*time.Second, "the pod waits with CreateContainerConfigError and an Event naming the Secret", func(ctx context.Context) (bool, string) {
		up, err := upper.Client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		ev, err := findEventWith(ctx, upper, ns, pod.Name, "MandatorySecretNotFound", eventFilter{host: vn.Name, since: start})
		if err != nil || ev == nil {
			return false, fmt.Sprintf("no MandatorySecretNotFound event yet (%v)", err)
		}
		if !strings.Contains(ev.Message, ns+"/late") {
			return false, "event message " + ev.Message
		}
		cs := up.Status.ContainerStatuses
		return up.Status.Phase == corev1.PodPending && len(cs) == 1 && cs[0].State.Waiting != nil &&
				cs[0].State.Waiting.Reason == "CreateContainerConfigError" && strings.Contains(cs[0].State.Waiting.Message, "late"),
			fmt.Sprintf("phase %s, containers %+v", up.Status.Phase, cs)
	})
	// Well past a status re-check (10 s): still no lower pod, still Pending, not Failed,
	// and no hot loop: the virtual node's CPU stays near idle while the pod waits.
	pid := vn.Process.Cmd.Process.Pid
	cpu0 := procCPU(t, pid)
	time.Sleep(12 * time.Second)
	if used := procCPU(t, pid) - cpu0; used > 2*time.Second {
		t.Errorf("the virtual node used %v CPU in 12 s while one pod waited; want it near idle (a hot loop?)", used)
	} else {
		t.Logf("virtual node CPU while the pod waited 12 s: %v", used)
	}
	if _, err := lowerA.Client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("lower pod while its Secret is missing above: %v, want NotFound (it would read the lower Secret)", err)
	}
	up, err := upper.Client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil || up.Status.Phase != corev1.PodPending {
		t.Fatalf("upper pod %v, phase %v; want Pending while it waits", err, up.Status.Phase)
	}

	upperSecret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "late", Namespace: ns}, StringData: map[string]string{"k": "upper"}}
	if _, err := upper.Client.CoreV1().Secrets(ns).Create(ctx, upperSecret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The lower cluster's Secret is not ours: the reflector does not overwrite it, so the
	// pod keeps waiting, now for a foreign object in the way.
	eventually(t, 30*time.Second, "ForeignObjectExists for the lower Secret", func(ctx context.Context) (bool, string) {
		ev, err := findEventWith(ctx, upper, ns, pod.Name, "ForeignObjectExists", eventFilter{host: vn.Name, since: start})
		return err == nil && ev != nil, fmt.Sprintf("no event on the pod yet (%v)", err)
	})
	if _, err := lowerA.Client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("lower pod with a foreign lower Secret in the way: %v, want NotFound", err)
	}
	if up, err := upper.Client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{}); err != nil || up.Status.Phase != corev1.PodPending {
		t.Fatalf("upper pod %v, phase %v; want Pending while the lower Secret is in the way", err, up.Status.Phase)
	}
	// The lower admin removes theirs: the copy is made and the pod starts.
	if err := lowerA.Client.CoreV1().Secrets(ns).Delete(ctx, "late", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPodRunning(t, lowerA, ns, pod.Name, 90*time.Second)
	got, err := lowerA.Client.CoreV1().Secrets(ns).Get(ctx, "late", metav1.GetOptions{})
	if err != nil || string(got.Data["k"]) != "upper" || got.Labels[ownerLabel] != vn.Name {
		t.Errorf("lower Secret %v: %+v; want our copy of the upper one", err, got)
	}
}
