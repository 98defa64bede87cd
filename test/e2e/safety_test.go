package e2e

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// TestLowerClusterSafety proves, on a lower cluster with its own controllers, that what
// the virtual node creates below cannot be taken over, and that what it made before
// is never lost to a name: a lower ReplicaSet whose selector matches our pod neither
// adopts nor deletes it, an upper claim made again under the same name gets a new
// lower claim (never the old one's data), a restart under another --lower-namespace
// deletes none of the old map's copies, and a pod's overhead is the lower
// RuntimeClass's.
func TestLowerClusterSafety(t *testing.T) {
	ctx := context.Background()
	whole := t // what outlives a subtest (a restarted node's process) is cleaned up with the test
	vn := startVirtualNode(t, "vk-safe", lowerA)
	var ns string
	t.Cleanup(func() { svcDeleteLowerNamespace([]*Cluster{lowerA}, ns) })
	ns = createNamespace(t, upper, "safe")

	t.Run("a lower ReplicaSet with a matching selector neither adopts nor deletes our pod and keeps its own count", func(t *testing.T) {
		pod := virtualPod(ns, "web", vn.Name)
		pod.Labels = map[string]string{"app": "shared-web"}
		try(upper.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})).must(t)
		_, low := waitPodRunning(t, lowerA, ns, "web", 30*time.Second)
		if c := metav1.GetControllerOf(low); c == nil || c.Kind != "Lease" {
			t.Fatalf("lower pod's controller = %v, want the node's anchor Lease", c)
		}
		anchor := try(lowerA.Client.CoordinationV1().Leases(ns).Get(ctx, metav1.GetControllerOf(low).Name, metav1.GetOptions{})).must(t)
		if anchor.Labels[ownerLabel] != vn.Name {
			t.Errorf("anchor Lease %s labels %v, want it marked as %s's", anchor.Name, anchor.Labels, vn.Name)
		}

		// The lower cluster's own ReplicaSet, selecting app=shared-web as our pod is labelled.
		rs := &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Name: "lower-web", Namespace: ns},
			Spec: appsv1.ReplicaSetSpec{
				Replicas: ptr.To[int32](1),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "shared-web"}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "shared-web"}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1.27"}},
						Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}}},
				},
			},
		}
		rs = try(lowerA.Client.AppsV1().ReplicaSets(ns).Create(ctx, rs, metav1.CreateOptions{})).must(t)
		eventually(t, 60*time.Second, "the lower ReplicaSet to run a pod of its own", func(ctx context.Context) (bool, string) {
			got, err := lowerA.Client.AppsV1().ReplicaSets(ns).Get(ctx, rs.Name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			own := 0
			for _, p := range try(lowerA.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=shared-web"})).must(t).Items {
				if c := metav1.GetControllerOf(&p); c != nil && c.UID == rs.UID && p.Status.Phase == corev1.PodRunning {
					own++
				}
			}
			return own == 1 && got.Status.ReadyReplicas == 1 && got.Status.Replicas == 1,
				fmt.Sprintf("its own running pods %d, status replicas %d ready %d", own, got.Status.Replicas, got.Status.ReadyReplicas)
		})
		time.Sleep(3 * time.Second) // a surplus delete would have come by now
		now := try(lowerA.Client.CoreV1().Pods(ns).Get(ctx, "web", metav1.GetOptions{})).must(t)
		if now.UID != low.UID || now.DeletionTimestamp != nil {
			t.Errorf("our lower pod: UID %s -> %s, deletion %v; want it untouched", low.UID, now.UID, now.DeletionTimestamp)
		}
		if c := metav1.GetControllerOf(now); c == nil || c.UID != anchor.UID {
			t.Errorf("our lower pod's controller = %v, want the anchor (adopted by the ReplicaSet?)", c)
		}
		noErr(t, lowerA.Client.AppsV1().ReplicaSets(ns).Delete(ctx, rs.Name, metav1.DeleteOptions{}))
		noErr(t, upper.Client.CoreV1().Pods(ns).Delete(ctx, "web", metav1.DeleteOptions{}))
	})

	t.Run("an upper claim made again under the same name gets a new lower claim, never the old one", func(t *testing.T) {
		claim := func() *corev1.PersistentVolumeClaim {
			return &corev1.PersistentVolumeClaim{
				ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: ns},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}
		}
		withClaim := func(name string) *corev1.Pod {
			p := virtualPod(ns, name, vn.Name)
			p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}
			return p
		}
		first := try(upper.Client.CoreV1().PersistentVolumeClaims(ns).Create(ctx, claim(), metav1.CreateOptions{})).must(t)
		try(upper.Client.CoreV1().Pods(ns).Create(ctx, withClaim("writer"), metav1.CreateOptions{})).must(t)
		var old *corev1.PersistentVolumeClaim
		eventually(t, 30*time.Second, "the lower copy of claim data", func(ctx context.Context) (bool, string) {
			var err error
			if old, err = lowerA.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data", metav1.GetOptions{}); err != nil {
				return false, err.Error()
			}
			return old.Annotations["tensile.dev/upper-uid"] == string(first.UID), fmt.Sprintf("annotations %v", old.Annotations)
		})
		noErr(t, upper.Client.CoreV1().Pods(ns).Delete(ctx, "writer", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}))
		waitGone(t, "lower pod writer", 30*time.Second, func(ctx context.Context) error {
			_, err := lowerA.Client.CoreV1().Pods(ns).Get(ctx, "writer", metav1.GetOptions{})
			return err
		})

		// While the node is down, the claim is deleted above and made again: at its
		// start-up the node finds its old copy under the name of a new upper claim.
		vn.Stop(syscall.SIGTERM)
		noErr(t, upper.Client.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, "data", metav1.DeleteOptions{}))
		waitGone(t, "upper claim data", 30*time.Second, func(ctx context.Context) error {
			_, err := upper.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data", metav1.GetOptions{})
			return err
		})
		second := try(upper.Client.CoreV1().PersistentVolumeClaims(ns).Create(ctx, claim(), metav1.CreateOptions{})).must(t)
		vn.restart(whole)
		waitNodeReady(t, vn.Name, corev1.ConditionTrue, 60*time.Second)
		try(upper.Client.CoreV1().Pods(ns).Create(ctx, withClaim("reader"), metav1.CreateOptions{})).must(t)
		eventually(t, 60*time.Second, "a new lower claim for the new upper claim, and the pod below", func(ctx context.Context) (bool, string) {
			now, err := lowerA.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			if now.UID == old.UID {
				return false, fmt.Sprintf("the old lower claim %s still serves, annotations %v", old.UID, now.Annotations)
			}
			if now.Annotations["tensile.dev/upper-uid"] != string(second.UID) {
				return false, fmt.Sprintf("new lower claim annotations %v", now.Annotations)
			}
			_, err = lowerA.Client.CoreV1().Pods(ns).Get(ctx, "reader", metav1.GetOptions{})
			return err == nil, fmt.Sprintf("lower pod reader: %v", err)
		})
		noErr(t, upper.Client.CoreV1().Pods(ns).Delete(ctx, "reader", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}))
	})

	t.Run("the pod's overhead is the lower RuntimeClass's, not the upper one's", func(t *testing.T) {
		name := "tensile-e2e-" + ns
		rc := func(overhead corev1.ResourceList) *nodev1.RuntimeClass {
			o := &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Handler: "runc"}
			if overhead != nil {
				o.Overhead = &nodev1.Overhead{PodFixed: overhead}
			}
			return o
		}
		try(upper.Client.NodeV1().RuntimeClasses().Create(ctx, rc(corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}), metav1.CreateOptions{})).must(t)
		t.Cleanup(func() {
			_ = upper.Client.NodeV1().RuntimeClasses().Delete(context.Background(), name, metav1.DeleteOptions{})
		})
		try(lowerA.Client.NodeV1().RuntimeClasses().Create(ctx, rc(nil), metav1.CreateOptions{})).must(t)
		t.Cleanup(func() {
			_ = lowerA.Client.NodeV1().RuntimeClasses().Delete(context.Background(), name, metav1.DeleteOptions{})
		})
		pod := virtualPod(ns, "sandboxed", vn.Name)
		pod.Spec.RuntimeClassName = &name
		up := try(upper.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})).must(t)
		if up.Spec.Overhead.Cpu().MilliValue() != 250 {
			t.Fatalf("upper admission set overhead %v, want cpu 250m (the test's premise)", up.Spec.Overhead)
		}
		_, low := waitPodRunning(t, lowerA, ns, "sandboxed", 30*time.Second)
		if low.Spec.Overhead != nil || ptr.Deref(low.Spec.RuntimeClassName, "") != name {
			t.Errorf("lower pod: overhead %v, runtimeClassName %v; want none (the lower class has none) and %s", low.Spec.Overhead, low.Spec.RuntimeClassName, name)
		}
		// Gone while the node runs: the restarted node's process stops before the
		// namespace's cleanup, which would otherwise wait for this pod in vain.
		noErr(t, upper.Client.CoreV1().Pods(ns).Delete(ctx, "sandboxed", metav1.DeleteOptions{}))
		waitGone(t, "upper pod sandboxed", 30*time.Second, func(ctx context.Context) error {
			_, err := upper.Client.CoreV1().Pods(ns).Get(ctx, "sandboxed", metav1.GetOptions{})
			return err
		})
	})
}

// TestNamespaceMapChange proves that a node restarted with another --lower-namespace
// leaves the copies it made under the old map alone: mapped back through the new map
// they name no upper object, and deleting them would delete a claim's data.
func TestNamespaceMapChange(t *testing.T) {
	ctx := context.Background()
	const node = "vk-remap"
	vn := startVirtualNode(t, node, lowerA, "--lower-namespace", "{namespace}-m1")
	var ns string
	t.Cleanup(func() { svcDeleteLowerNamespace([]*Cluster{lowerA}, ns+"-m1") })
	ns = createNamespace(t, upper, "remap")
	t.Cleanup(func() { svcDeleteLowerNamespace([]*Cluster{lowerA}, ns) })
	try(upper.Client.CoreV1().PersistentVolumeClaims(ns).Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: ns},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}, metav1.CreateOptions{})).must(t)
	pod := virtualPod(ns, "writer", node)
	pod.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}
	try(upper.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})).must(t)
	var copyUID types.UID
	eventually(t, 30*time.Second, "the claim copy under the first map", func(ctx context.Context) (bool, string) {
		c, err := lowerA.Client.CoreV1().PersistentVolumeClaims(ns+"-m1").Get(ctx, "data", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		copyUID = c.UID
		return true, ""
	})
	noErr(t, upper.Client.CoreV1().Pods(ns).Delete(ctx, "writer", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}))
	waitGone(t, "lower pod writer", 30*time.Second, func(ctx context.Context) error {
		_, err := lowerA.Client.CoreV1().Pods(ns+"-m1").Get(ctx, "writer", metav1.GetOptions{})
		return err
	})

	// The same node, restarted with the default map: ns-m1 would now stand for an upper
	// namespace ns-m1, which has no claim "data".
	vn.Stop(syscall.SIGTERM)
	startVirtualNode(t, node, lowerA)
	time.Sleep(5 * time.Second) // the start-up sweep queues every copy carrying the node's labels
	c, err := lowerA.Client.CoreV1().PersistentVolumeClaims(ns+"-m1").Get(ctx, "data", metav1.GetOptions{})
	if err != nil || c.UID != copyUID || c.DeletionTimestamp != nil {
		t.Fatalf("the claim copy made under the first map after a restart under another: %v (UID %s, was %s, deletion %v); want it untouched",
			err, c.GetUID(), copyUID, c.GetDeletionTimestamp())
	}
}
