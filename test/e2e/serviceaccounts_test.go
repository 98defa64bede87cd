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
	"k8s.io/utils/ptr"
)

// TestServiceAccounts proves that a pod runs below as the lower ServiceAccount of its
// upper ServiceAccount's name: created (and later removed) by the virtual node when
// missing; when the lower cluster has its own (a lower identity, maybe privileged
// there), used untouched only once the lower admin allows it, the pod waiting until
// then; and mounted by the lower cluster's admission, never from an upper token.
func TestServiceAccounts(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	vn := startVirtualNode(t, "vk-sa", lowerA)
	var ns string
	t.Cleanup(func() { svcDeleteLowerNamespace([]*Cluster{lowerA}, ns) })
	ns = createNamespace(t, upper, "sa")
	for _, name := range []string{"builder", "shared"} {
		try(upper.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})).must(t)
	}
	asSA := func(name, sa string, automount *bool) *corev1.Pod {
		p := virtualPod(ns, name, vn.Name)
		p.Spec.ServiceAccountName, p.Spec.AutomountServiceAccountToken = sa, automount
		return p
	}

	t.Run("a missing lower ServiceAccount is created, owned by the node, and the lower admission mounts its token", func(t *testing.T) {
		try(upper.Client.CoreV1().Pods(ns).Create(ctx, asSA("builds", "builder", nil), metav1.CreateOptions{})).must(t)
		up, low := waitPodRunning(t, lowerA, ns, "builds", 30*time.Second)
		sa := try(lowerA.Client.CoreV1().ServiceAccounts(ns).Get(ctx, "builder", metav1.GetOptions{})).must(t)
		if sa.Labels[ownerLabel] != vn.Name {
			t.Errorf("lower ServiceAccount builder: labels %v, want it marked as %s's", sa.Labels, vn.Name)
		}
		if low.Spec.ServiceAccountName != "builder" {
			t.Errorf("lower pod runs as %q, want builder", low.Spec.ServiceAccountName)
		}
		upperVolume, lowerVolume := tokenVolumeName(up), tokenVolumeName(low)
		if upperVolume == "" || lowerVolume == "" || upperVolume == lowerVolume {
			t.Errorf("token volumes: upper %q, lower %q; want one each, the lower one added by the lower admission", upperVolume, lowerVolume)
		}
	})

	t.Run("a pod without a token above gets none below", func(t *testing.T) {
		try(upper.Client.CoreV1().Pods(ns).Create(ctx, asSA("quiet", "builder", ptr.To(false)), metav1.CreateOptions{})).must(t)
		_, low := waitPodRunning(t, lowerA, ns, "quiet", 30*time.Second)
		if v := tokenVolumeName(low); v != "" || low.Spec.AutomountServiceAccountToken == nil || *low.Spec.AutomountServiceAccountToken {
			t.Errorf("lower pod: token volume %q, automount %v; want none, false", v, low.Spec.AutomountServiceAccountToken)
		}
	})

	t.Run("the lower cluster's own ServiceAccount of the name is used only once the lower admin allows it", func(t *testing.T) {
		own := try(lowerA.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "shared",
			Labels: map[string]string{"owner": "lower-admin"}}}, metav1.CreateOptions{})).must(t)
		try(upper.Client.CoreV1().Pods(ns).Create(ctx, asSA("uses-shared", "shared", nil), metav1.CreateOptions{})).must(t)
		// Not allowed: the pod waits, with an Event that says what would allow it, and no
		// lower pod runs as the lower identity.
		eventually(t, 30*time.Second, "ForeignObjectExists on the waiting pod", func(ctx context.Context) (bool, string) {
			ev, err := findEventWith(ctx, upper, ns, "uses-shared", "ForeignObjectExists", eventFilter{host: vn.Name, since: start})
			if err != nil || ev == nil {
				return false, fmt.Sprintf("%v", err)
			}
			return strings.Contains(ev.Message, "tensile.dev/allow-upper-clusters="), ev.Message
		})
		if _, err := lowerA.Client.CoreV1().Pods(ns).Get(ctx, "uses-shared", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("lower pod uses-shared while its ServiceAccount is the lower cluster's own and not allowed: %v", err)
		}
		up := try(upper.Client.CoreV1().Pods(ns).Get(ctx, "uses-shared", metav1.GetOptions{})).must(t)
		if up.Status.Phase != corev1.PodPending || len(up.Status.ContainerStatuses) == 0 || up.Status.ContainerStatuses[0].State.Waiting == nil {
			t.Errorf("upper pod status %+v; want Pending with a waiting container that says why", up.Status)
		}

		// The lower admin allows every upper cluster: the pod starts, as that identity.
		own.Annotations = map[string]string{"tensile.dev/allow-upper-clusters": "*"}
		own = try(lowerA.Client.CoreV1().ServiceAccounts(ns).Update(ctx, own, metav1.UpdateOptions{})).must(t)
		_, low := waitPodRunning(t, lowerA, ns, "uses-shared", 30*time.Second)
		if low.Spec.ServiceAccountName != "shared" {
			t.Errorf("lower pod runs as %q, want shared", low.Spec.ServiceAccountName)
		}
		got := try(lowerA.Client.CoreV1().ServiceAccounts(ns).Get(ctx, "shared", metav1.GetOptions{})).must(t)
		if got.ResourceVersion != own.ResourceVersion || got.Labels[ownerLabel] != "" {
			t.Errorf("the lower cluster's ServiceAccount changed: resourceVersion %s -> %s, labels %v", own.ResourceVersion, got.ResourceVersion, got.Labels)
		}
		if err := upper.Client.CoreV1().Pods(ns).Delete(ctx, "uses-shared", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitGone(t, "lower pod uses-shared", 30*time.Second, func(ctx context.Context) error {
			_, err := lowerA.Client.CoreV1().Pods(ns).Get(ctx, "uses-shared", metav1.GetOptions{})
			return err
		})
		time.Sleep(2 * time.Second) // what a wrong cleanup would delete is gone by now
		if _, err := lowerA.Client.CoreV1().ServiceAccounts(ns).Get(ctx, "shared", metav1.GetOptions{}); err != nil {
			t.Errorf("the lower cluster's ServiceAccount after its last pod went: %v", err)
		}
	})

	t.Run("once no pod uses it, the created ServiceAccount is removed", func(t *testing.T) {
		for _, name := range []string{"builds", "quiet"} {
			if err := upper.Client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		waitGone(t, "lower ServiceAccount builder", 60*time.Second, func(ctx context.Context) error {
			_, err := lowerA.Client.CoreV1().ServiceAccounts(ns).Get(ctx, "builder", metav1.GetOptions{})
			return err
		})
	})
}

// tokenVolumeName returns the name of the pod's service-account token volume, if any.
func tokenVolumeName(p *corev1.Pod) string {
	for _, v := range p.Spec.Volumes {
		if v.Projected == nil || !strings.HasPrefix(v.Name, "kube-api-access-") {
			continue
		}
		for _, s := range v.Projected.Sources {
			if s.ServiceAccountToken != nil {
				return v.Name
			}
		}
	}
	return ""
}
