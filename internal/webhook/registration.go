package webhook

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	admissionclient "k8s.io/client-go/kubernetes/typed/admissionregistration/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

const (
	// WebhookName is the name of the registration's webhook for pods.
	WebhookName = "pods.tensile.dev"
	// DaemonSetWebhookName is the name of the registration's webhook for DaemonSets.
	DaemonSetWebhookName = "daemonsets.tensile.dev"
	// PodSelectorLabel is the label (value "true") that opts a pod into the webhook.
	PodSelectorLabel = "virtual-pod"
	// MutatePath is the HTTPS path the webhook serves reviews on, of pods and
	// DaemonSets alike (Handler tells them apart by resource).
	MutatePath = "/mutate"
)

// Registration describes the MutatingWebhookConfiguration the webhook may manage.
type Registration struct {
	// Name is the MutatingWebhookConfiguration's name.
	Name string
	// URL is where the API server calls the webhook when it runs outside the cluster
	// (e.g. https://127.0.0.1:9443/mutate). Exactly one of URL and Service is set.
	URL string
	// Service is the in-cluster Service in front of the webhook.
	Service *admissionregistrationv1.ServiceReference
	// FailurePolicy is Fail or Ignore, for the pods webhook; empty means Fail. The
	// DaemonSets webhook always has Ignore.
	FailurePolicy admissionregistrationv1.FailurePolicyType
	// SkipDaemonSets leaves the DaemonSets webhook out. The zero value includes it.
	SkipDaemonSets bool
	// CABundle is the PEM CA the API server verifies the webhook with.
	CABundle []byte
}

// Build returns the MutatingWebhookConfiguration for r. The pod objectSelector limits
// the webhook to pods labelled virtual-pod=true and the namespaceSelector keeps it off
// kube-system, so failurePolicy Fail (recommended: a virtual pod admitted without its
// constraints moved would be scheduled on the virtual node with its lower-cluster
// constraints judged against the virtual node) can only ever block opted-in pods.
//
// The second webhook, unless r.SkipDaemonSets, sees every DaemonSet CREATE and UPDATE,
// kube-system included (kube-proxy lives there), so it has failurePolicy Ignore: an
// outage of the webhook must never block a system upgrade, and the virtual node
// refusing the pods of a DaemonSet admitted unchanged is the second line.
func (r Registration) Build() (*admissionregistrationv1.MutatingWebhookConfiguration, error) {
	if r.Name == "" || (r.URL == "") == (r.Service == nil) {
		return nil, errors.New("a webhook registration needs a name and exactly one of URL and Service")
	}
	policy := r.FailurePolicy
	if policy == "" {
		policy = admissionregistrationv1.Fail
	}
	cc := admissionregistrationv1.WebhookClientConfig{CABundle: r.CABundle}
	if r.URL != "" {
		cc.URL = ptr.To(r.URL)
	} else {
		cc.Service = r.Service.DeepCopy()
	}
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: r.Name},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:         WebhookName,
			ClientConfig: cc,
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{
					APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"},
					Scope: ptr.To(admissionregistrationv1.NamespacedScope),
				},
			}},
			FailurePolicy:  ptr.To(policy),
			MatchPolicy:    ptr.To(admissionregistrationv1.Equivalent),
			ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{PodSelectorLabel: "true"}},
			NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
				Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpNotIn, Values: []string{metav1.NamespaceSystem},
			}}},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			TimeoutSeconds:          ptr.To[int32](10),
			AdmissionReviewVersions: []string{"v1"},
			ReinvocationPolicy:      ptr.To(admissionregistrationv1.IfNeededReinvocationPolicy),
		}},
	}
	if r.SkipDaemonSets {
		return cfg, nil
	}
	cfg.Webhooks = append(cfg.Webhooks, admissionregistrationv1.MutatingWebhook{
		Name:         DaemonSetWebhookName,
		ClientConfig: *cc.DeepCopy(),
		Rules: []admissionregistrationv1.RuleWithOperations{{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
			Rule: admissionregistrationv1.Rule{
				APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"daemonsets"},
				Scope: ptr.To(admissionregistrationv1.NamespacedScope),
			},
		}},
		FailurePolicy: ptr.To(admissionregistrationv1.Ignore),
		MatchPolicy:   ptr.To(admissionregistrationv1.Equivalent),
		// Every namespace, kube-system included; no objectSelector.
		NamespaceSelector:       &metav1.LabelSelector{},
		SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
		TimeoutSeconds:          ptr.To[int32](10),
		AdmissionReviewVersions: []string{"v1"},
		ReinvocationPolicy:      ptr.To(admissionregistrationv1.NeverReinvocationPolicy),
	})
	return cfg, nil
}

// Apply creates the registration or replaces the webhooks of an existing one.
func (r Registration) Apply(ctx context.Context, client admissionclient.MutatingWebhookConfigurationsGetter) error {
	want, err := r.Build()
	if err != nil {
		return err
	}
	api := client.MutatingWebhookConfigurations()
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		have, err := api.Get(ctx, r.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = api.Create(ctx, want, metav1.CreateOptions{})
			return wrap(err, "creating", r.Name)
		}
		if err != nil {
			return wrap(err, "reading", r.Name)
		}
		have.Webhooks = want.Webhooks
		_, err = api.Update(ctx, have, metav1.UpdateOptions{})
		return wrap(err, "updating", r.Name)
	})
}

// PatchCABundle sets the caBundle of every webhook in the named registration with a
// JSON patch guarded by `test` operations on the webhook names, so a registration
// changed in between is re-read rather than patched at the wrong index.
func PatchCABundle(ctx context.Context, client admissionclient.MutatingWebhookConfigurationsGetter, name string, ca []byte) error {
	api := client.MutatingWebhookConfigurations()
	return retry.OnError(retry.DefaultRetry, func(err error) bool {
		return apierrors.IsConflict(err) || apierrors.IsInvalid(err)
	}, func() error {
		have, err := api.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return wrap(err, "reading", name)
		}
		patch, err := caBundlePatch(have, ca)
		if err != nil || patch == nil {
			return err
		}
		_, err = api.Patch(ctx, name, types.JSONPatchType, patch, metav1.PatchOptions{})
		return wrap(err, "patching the caBundle of", name)
	})
}

// caBundlePatch returns the JSON patch setting ca in every webhook of cfg, or nil when
// they all hold it already.
func caBundlePatch(cfg *admissionregistrationv1.MutatingWebhookConfiguration, ca []byte) ([]byte, error) {
	var ops []PatchOperation
	for i, w := range cfg.Webhooks {
		if string(w.ClientConfig.CABundle) == string(ca) {
			continue
		}
		ops = append(ops,
			PatchOperation{Op: "test", Path: fmt.Sprintf("/webhooks/%d/name", i), Value: w.Name},
			PatchOperation{Op: "add", Path: fmt.Sprintf("/webhooks/%d/clientConfig/caBundle", i), Value: base64.StdEncoding.EncodeToString(ca)})
	}
	if len(ops) == 0 {
		return nil, nil
	}
	return json.Marshal(ops)
}

func wrap(err error, verb, name string) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s MutatingWebhookConfiguration %s: %w", verb, name, err)
}
