package provider

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"

	"github.com/tensile-kube/tensile/internal/translate"
)

// Event reasons of the subresource path.
const (
	// ReasonLowerResizeRefused: the lower API server refused a resize (it does not fit
	// the lower node); the upper pod shows PodResizePending=True/Infeasible.
	ReasonLowerResizeRefused = "LowerResizeRefused"
	// ReasonEphemeralFailed: an ephemeral container could not be added below.
	ReasonEphemeralFailed = "LowerEphemeralContainerFailed"
)

// syncEphemeralAndResize applies to the lower pod what only subresources change, as a
// kubelet's API server does for pods it runs: ephemeral containers added above (kubectl
// debug) go through the lower pod's ephemeralcontainers subresource, and resources
// changed above (pods/resize) through its resize subresource. UpdatePod calls it after
// the ordinary update; reconcile calls it on every re-check, so a failed attempt is
// tried again (virtual-kubelet does not call UpdatePod again for a spec it saw).
func (p *Provider) syncEphemeralAndResize(ctx context.Context, upper, lower *corev1.Pod) error {
	if lower == nil || upper.DeletionTimestamp != nil || lower.DeletionTimestamp != nil ||
		lower.Status.Phase == corev1.PodSucceeded || lower.Status.Phase == corev1.PodFailed {
		return nil
	}
	if len(translate.MissingEphemeralContainers(upper, lower)) > 0 {
		if err := p.addEphemeralContainers(ctx, upper, lower); err != nil {
			return err
		}
	}
	_, refused := translate.ResizeRefusalOf(lower)
	if translate.ResizeWanted(upper, lower) || refused {
		return p.resizeLower(ctx, upper, lower)
	}
	return nil
}

func (p *Provider) addEphemeralContainers(ctx context.Context, upper, lower *corev1.Pod) error {
	pods := p.cfg.Lower.CoreV1().Pods(lower.Namespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := pods.Get(ctx, lower.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur.UID != lower.UID {
			return nil // replaced meanwhile; the next sync sees the new one
		}
		missing := translate.MissingEphemeralContainers(upper, cur)
		if len(missing) == 0 {
			return nil
		}
		cur.Spec.EphemeralContainers = append(cur.Spec.EphemeralContainers, missing...)
		_, err = pods.UpdateEphemeralContainers(ctx, cur.Name, cur, metav1.UpdateOptions{})
		if err == nil {
			klog.FromContext(ctx).V(2).Info("Added ephemeral containers below", "pod", klog.KObj(upper), "count", len(missing))
		}
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		p.cfg.Recorder.Event(upper, corev1.EventTypeWarning, ReasonEphemeralFailed,
			fmt.Sprintf("Adding ephemeral containers to the lower pod: %v", err))
		return fmt.Errorf("adding ephemeral containers to lower pod %s/%s: %w", lower.Namespace, lower.Name, err)
	}
	return nil
}

// resizeLower sends the upper resources to the lower pods/resize subresource. A
// refusal because the pod does not fit its lower node is recorded on the lower pod
// (translate.AnnotationResizeRefused) and shown above as PodResizePending=Infeasible,
// as a kubelet shows a resize its node cannot take; the record goes once a resize is
// accepted or the upper resources are those below again.
func (p *Provider) resizeLower(ctx context.Context, upper, lower *corev1.Pod) error {
	pods := p.cfg.Lower.CoreV1().Pods(lower.Namespace)
	var refusal error
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := pods.Get(ctx, lower.Name, metav1.GetOptions{})
		if err != nil || cur.UID != lower.UID {
			return err
		}
		if translate.ResizeLower(cur, upper) {
			_, err = pods.UpdateResize(ctx, cur.Name, cur, metav1.UpdateOptions{})
			if apierrors.IsForbidden(err) || apierrors.IsInvalid(err) {
				refusal = err
				return p.recordResizeRefusal(ctx, upper, lower, err)
			}
			if err != nil {
				return err
			}
			klog.FromContext(ctx).V(2).Info("Resized lower pod", "pod", klog.KObj(upper))
		}
		return p.recordResizeRefusal(ctx, upper, lower, nil)
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("resizing lower pod %s/%s: %w", lower.Namespace, lower.Name, err)
	}
	if refusal != nil {
		return fmt.Errorf("lower pod %s/%s refused the resize: %w", lower.Namespace, lower.Name, refusal)
	}
	return nil
}

// recordResizeRefusal sets (refused != nil) or removes the refusal record on the lower
// pod. An unchanged message keeps its time, so the upper condition stays put.
func (p *Provider) recordResizeRefusal(ctx context.Context, upper, lower *corev1.Pod, refused error) error {
	pods := p.cfg.Lower.CoreV1().Pods(lower.Namespace)
	cur, err := pods.Get(ctx, lower.Name, metav1.GetOptions{})
	if err != nil || cur.UID != lower.UID {
		return err
	}
	old, had := translate.ResizeRefusalOf(cur)
	switch {
	case refused == nil && !had:
		return nil
	case refused == nil:
		delete(cur.Annotations, translate.AnnotationResizeRefused)
	case had && old.Message == refused.Error():
		return nil
	default:
		msg := refused.Error()
		if cur.Annotations == nil {
			cur.Annotations = map[string]string{}
		}
		cur.Annotations[translate.AnnotationResizeRefused] = translate.ResizeRefusal{
			At: metav1.NewTime(time.Now().Truncate(time.Second)), Message: msg}.Encode()
		p.cfg.Recorder.Event(upper, corev1.EventTypeWarning, ReasonLowerResizeRefused,
			"The lower cluster refused the resize: "+refused.Error())
	}
	_, err = pods.Update(ctx, cur, metav1.UpdateOptions{})
	return err
}
