package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// fidelityPod is a virtual pod with CPU requests and limits, so that it can be resized.
func fidelityPod(ns, name, node string) *corev1.Pod {
	p := virtualPod(ns, name, node)
	p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
	}
	return p
}

func podCondition(p *corev1.Pod, t corev1.PodConditionType) (corev1.PodCondition, bool) {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return c, true
		}
	}
	return corev1.PodCondition{}, false
}

// TestPodFidelity: kubectl debug (ephemeral containers) and in-place resize reach the
// lower pod through its subresources, and what the lower kubelet reports comes back
// (issue #16).
func TestPodFidelity(t *testing.T) {
	ctx := context.Background()
	vn := startVirtualNode(t, "vk-fid", lowerA)
	ns := createNamespace(t, upper, "fidelity")
	try(upper.Client.CoreV1().Pods(ns).Create(ctx, fidelityPod(ns, "web", vn.Name), metav1.CreateOptions{})).must(t)
	waitPodRunning(t, lowerA, ns, "web", 90*time.Second)

	t.Run("kubectl debug adds an ephemeral container below and its status comes up", func(t *testing.T) {
		out, err := kubectl(t, upper, "-n", ns, "debug", "web", "--image=busybox:1.36", "--target=c", "-c", "dbg", "--", "sleep", "3600")
		if err != nil {
			t.Fatalf("kubectl debug: %v\n%s", err, out)
		}
		eventually(t, 60*time.Second, "the ephemeral container running above", func(ctx context.Context) (bool, string) {
			up, err := upper.Client.CoreV1().Pods(ns).Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			for _, s := range up.Status.EphemeralContainerStatuses {
				if s.Name == "dbg" && s.State.Running != nil {
					return true, ""
				}
			}
			return false, fmt.Sprintf("ephemeral statuses above: %+v", up.Status.EphemeralContainerStatuses)
		})
		low := try(lowerA.Client.CoreV1().Pods(ns).Get(ctx, "web", metav1.GetOptions{})).must(t)
		if len(low.Spec.EphemeralContainers) != 1 || low.Spec.EphemeralContainers[0].Name != "dbg" ||
			low.Spec.EphemeralContainers[0].TargetContainerName != "c" {
			t.Errorf("lower ephemeral containers: %+v", low.Spec.EphemeralContainers)
		}
	})

	t.Run("kubectl attach to the ephemeral container", func(t *testing.T) {
		attachSees(ctx, t, ns, "dbg", "debugger output")
	})

	t.Run("a resize that fits is applied below and reported above", func(t *testing.T) {
		patch := `{"spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":"300m"},"limits":{"cpu":"400m"}}}]}}`
		out, err := kubectl(t, upper, "-n", ns, "patch", "pod", "web", "--subresource", "resize", "-p", patch)
		if err != nil {
			t.Fatalf("resize above: %v\n%s", err, out)
		}
		eventually(t, 60*time.Second, "the new resources allocated below and reported above", func(ctx context.Context) (bool, string) {
			low, err := lowerA.Client.CoreV1().Pods(ns).Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			up, err := upper.Client.CoreV1().Pods(ns).Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			lowCPU := low.Spec.Containers[0].Resources.Requests.Cpu().String()
			var upAlloc, upRes string
			if cs := up.Status.ContainerStatuses; len(cs) == 1 && cs[0].Resources != nil {
				upAlloc, upRes = cs[0].AllocatedResources.Cpu().String(), cs[0].Resources.Requests.Cpu().String()
			}
			_, pending := podCondition(up, corev1.PodResizePending)
			ok := lowCPU == "300m" && upAlloc == "300m" && upRes == "300m" && !pending &&
				up.Status.ObservedGeneration == up.Generation
			return ok, fmt.Sprintf("lower spec cpu %s; upper allocated %s, reported %s, PodResizePending %v, observedGeneration %d of %d",
				lowCPU, upAlloc, upRes, pending, up.Status.ObservedGeneration, up.Generation)
		})
	})

	t.Run("a resize that does not fit below shows PodResizePending with the lower reason", func(t *testing.T) {
		// 6 CPUs fit the virtual node (three 4-CPU nodes) but no lower node.
		patch := `{"spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":"6"},"limits":{"cpu":"7"}}}]}}`
		out, err := kubectl(t, upper, "-n", ns, "patch", "pod", "web", "--subresource", "resize", "-p", patch)
		if err != nil {
			t.Fatalf("resize above: %v\n%s", err, out)
		}
		eventually(t, 60*time.Second, "PodResizePending=True/Infeasible above", func(ctx context.Context) (bool, string) {
			up, err := upper.Client.CoreV1().Pods(ns).Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			c, ok := podCondition(up, corev1.PodResizePending)
			return ok && c.Status == corev1.ConditionTrue && c.Reason == corev1.PodReasonInfeasible &&
					strings.Contains(c.Message, "allocatable"),
				fmt.Sprintf("conditions %+v", up.Status.Conditions)
		})
		low := try(lowerA.Client.CoreV1().Pods(ns).Get(ctx, "web", metav1.GetOptions{})).must(t)
		if got := low.Spec.Containers[0].Resources.Requests.Cpu().String(); got != "300m" {
			t.Errorf("lower requests cpu %s after a refused resize, want 300m", got)
		}
		up := try(upper.Client.CoreV1().Pods(ns).Get(ctx, "web", metav1.GetOptions{})).must(t)
		if got := up.Status.ContainerStatuses[0].AllocatedResources.Cpu().String(); got != "300m" {
			t.Errorf("upper allocated cpu %s after a refused resize, want 300m", got)
		}
		if up.Status.ObservedGeneration == up.Generation {
			t.Errorf("observedGeneration %d moved to the generation of a resize the lower pod never got", up.Status.ObservedGeneration)
		}
	})
}

// TestConditionOwnership: conditions written above (readiness gates, DisruptionTarget)
// survive the lower status, and Ready waits for the readiness gates (issue #12 item 5).
func TestConditionOwnership(t *testing.T) {
	ctx := context.Background()
	vn := startVirtualNode(t, "vk-cond", lowerA)
	ns := createNamespace(t, upper, "conditions")
	const gate = "example.com/gate"
	pod := virtualPod(ns, "gated", vn.Name)
	pod.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: gate}}
	try(upper.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})).must(t)
	waitPodRunning(t, lowerA, ns, "gated", 90*time.Second)
	ready := func(ctx context.Context) (corev1.PodCondition, *corev1.Pod, error) {
		up, err := upper.Client.CoreV1().Pods(ns).Get(ctx, "gated", metav1.GetOptions{})
		if err != nil {
			return corev1.PodCondition{}, nil, err
		}
		c, _ := podCondition(up, corev1.PodReady)
		return c, up, nil
	}

	t.Run("Ready stays False while a readiness gate is missing", func(t *testing.T) {
		eventually(t, 30*time.Second, "Ready=False/ReadinessGatesNotReady", func(ctx context.Context) (bool, string) {
			c, _, err := ready(ctx)
			if err != nil {
				return false, err.Error()
			}
			return c.Status == corev1.ConditionFalse && c.Reason == "ReadinessGatesNotReady", fmt.Sprintf("Ready %+v", c)
		})
	})

	t.Run("the gate condition written above survives and makes the pod Ready", func(t *testing.T) {
		patch := fmt.Sprintf(`{"status":{"conditions":[{"type":%q,"status":"True","lastTransitionTime":%q}]}}`, gate, time.Now().UTC().Format(time.RFC3339))
		try(upper.Client.CoreV1().Pods(ns).Patch(ctx, "gated", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "status")).must(t)
		eventually(t, 30*time.Second, "Ready=True", func(ctx context.Context) (bool, string) {
			c, _, err := ready(ctx)
			if err != nil {
				return false, err.Error()
			}
			return c.Status == corev1.ConditionTrue, fmt.Sprintf("Ready %+v", c)
		})
	})

	t.Run("DisruptionTarget written above survives the re-checks", func(t *testing.T) {
		patch := fmt.Sprintf(`{"status":{"conditions":[{"type":"DisruptionTarget","status":"True","reason":"TerminationByKubelet","message":"set above","lastTransitionTime":%q}]}}`,
			time.Now().UTC().Format(time.RFC3339))
		try(upper.Client.CoreV1().Pods(ns).Patch(ctx, "gated", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "status")).must(t)
		// Two status re-checks (10 s each) and a lower status change in between.
		low := try(lowerA.Client.CoreV1().Pods(ns).Get(ctx, "gated", metav1.GetOptions{})).must(t)
		low.Status.Message = "touched below"
		try(lowerA.Client.CoreV1().Pods(ns).UpdateStatus(ctx, low, metav1.UpdateOptions{})).must(t)
		deadline := time.Now().Add(25 * time.Second)
		for time.Now().Before(deadline) {
			_, up, err := ready(ctx)
			noErr(t, err)
			if _, ok := podCondition(up, corev1.DisruptionTarget); !ok {
				t.Fatalf("DisruptionTarget erased: %+v", up.Status.Conditions)
			}
			if _, ok := podCondition(up, gate); !ok {
				t.Fatalf("readiness gate condition erased: %+v", up.Status.Conditions)
			}
			time.Sleep(time.Second)
		}
		_, up, err := ready(ctx)
		noErr(t, err)
		if up.Status.Message != "touched below" {
			t.Errorf("the lower status did not come up meanwhile: message %q", up.Status.Message)
		}
	})
}
