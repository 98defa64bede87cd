package provider_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	clienttesting "k8s.io/client-go/testing"

	"github.com/tensile-kube/tensile/internal/eventually"
	"github.com/tensile-kube/tensile/internal/provider"
)

// TestCreatePodPassingLowerErrors: while the lower API server answers pod creates with
// errors that pass (unreachable, 429, 500, a timeout), CreatePod returns no error to
// virtual-kubelet (which would fail a restartPolicy Never pod and write into its
// informer's object), the pod handed in is not changed, one Event says why, and the
// node's own retries create the pod once the lower cluster answers.
func TestCreatePodPassingLowerErrors(t *testing.T) {
	gr := schema.GroupResource{Resource: "pods"}
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"unreachable", errors.New("dial tcp 127.0.0.1:6443: connect: connection refused")},
		{"too many requests", apierrors.NewTooManyRequests("slow down", 1)},
		{"internal error", apierrors.NewInternalError(errors.New("etcd leader changed"))},
		{"timeout", apierrors.NewTimeoutError("request did not complete", 1)},
		{"quota", apierrors.NewForbidden(gr, "web", errors.New("exceeded quota: pods"))},
		{"default ServiceAccount not made yet", apierrors.NewForbidden(gr, "web",
			errors.New(`error looking up service account app/default: serviceaccount "default" not found`))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, owner, upperDeps(), nil)
			var failures atomic.Int32
			failures.Store(3)
			e.lower.PrependReactor("create", "pods", func(clienttesting.Action) (bool, runtime.Object, error) {
				if failures.Add(-1) >= 0 {
					return true, nil, tc.err
				}
				return false, nil, nil
			})
			pod, n := runWithPod(t, e, neverRestart)
			before := pod.DeepCopy()
			if err := e.p.CreatePod(e.ctx, pod); err != nil {
				t.Errorf("CreatePod: %v, want no error for virtual-kubelet", err)
			}
			if pod.Status.Phase != before.Status.Phase || pod.ResourceVersion != before.ResourceVersion {
				t.Errorf("the pod handed to CreatePod was changed: phase %q, resourceVersion %q", pod.Status.Phase, pod.ResourceVersion)
			}
			eventually.True(t, 5*time.Second, "the lower pod, created by the node's retries", func() bool { return len(lowerPods(t, e)) == 1 })
			if f := n.find(func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed }); f != nil {
				t.Errorf("a Failed status was published: %+v", f.Status)
			}
			if ev := e.recorder.recorded(); len(ev) != 1 || ev[0].Reason != provider.ReasonLowerUnavailable {
				t.Errorf("events %v, want one %s", ev, provider.ReasonLowerUnavailable)
			}
		})
	}
}

func neverRestart(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyNever }

// TestCreatePodPermanentRefusal: a pod the lower cluster refuses for good (invalid
// there, forbidden by its admission) fails as a kubelet's rejected pod does, with the
// lower message, once, and is not retried.
func TestCreatePodPermanentRefusal(t *testing.T) {
	e := newEnv(t, owner, upperDeps(), nil)
	var creates atomic.Int32
	e.lower.PrependReactor("create", "pods", func(clienttesting.Action) (bool, runtime.Object, error) {
		creates.Add(1)
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "web",
			errors.New(`violates PodSecurity "restricted:latest": privileged`))
	})
	pod, n := runWithPod(t, e, neverRestart)
	if err := e.p.CreatePod(e.ctx, pod); err != nil {
		t.Errorf("CreatePod: %v, want no error for virtual-kubelet", err)
	}
	got := n.find(func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	if got == nil || got.Status.Reason != provider.ReasonProviderFailed || !strings.Contains(got.Status.Message, "PodSecurity") {
		t.Errorf("published status %+v, want Failed, %s, the lower message", got, provider.ReasonProviderFailed)
	}
	if c := creates.Load(); c != 1 {
		t.Errorf("lower creates = %d, want 1: a refusal is not retried", c)
	}
}

// TestDependenciesReleasedForVanishedPods: a pod that disappears above without
// DeletePod (force-deleted during a create, or after a failed one) releases what it
// used: its Secret and ConfigMap copies go below at the next re-check.
func TestDependenciesReleasedForVanishedPods(t *testing.T) {
	e := newEnv(t, owner, upperDeps(), nil)
	pod, _ := runWithPod(t, e, nil)
	if err := e.p.CreatePod(e.ctx, pod); err != nil {
		t.Fatal(err)
	}
	if _, err := e.lower.CoreV1().Secrets("app").Get(e.ctx, "creds", metav1.GetOptions{}); err != nil {
		t.Fatalf("the Secret copy after CreatePod: %v", err)
	}
	// Gone above and below, and virtual-kubelet never called DeletePod.
	if err := e.upper.CoreV1().Pods("app").Delete(e.ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.lower.CoreV1().Pods("app").Delete(e.ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(e.ctx, 50*time.Millisecond, 25*time.Second, true, func(ctx context.Context) (bool, error) {
		_, serr := e.lower.CoreV1().Secrets("app").Get(ctx, "creds", metav1.GetOptions{})
		_, cerr := e.lower.CoreV1().ConfigMaps("app").Get(ctx, "cfg", metav1.GetOptions{})
		return apierrors.IsNotFound(serr) && apierrors.IsNotFound(cerr), nil
	})
	if err != nil {
		t.Errorf("the copies of a pod that vanished without DeletePod are still below: %v", err)
	}
}
