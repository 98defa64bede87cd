package webhook

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// TestShippedRegistrationMatchesBuild keeps manifests/webhook in step with what
// --manage-webhook-config would create.
func TestShippedRegistrationMatchesBuild(t *testing.T) {
	raw, err := os.ReadFile("../../manifests/webhook/mutatingwebhookconfiguration.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var shipped admissionregistrationv1.MutatingWebhookConfiguration
	if err := yaml.UnmarshalStrict(raw, &shipped); err != nil {
		t.Fatal(err)
	}
	want, err := Registration{Name: "tensile-webhook", Service: &admissionregistrationv1.ServiceReference{
		Namespace: "kube-system", Name: "tensile-webhook", Path: ptr.To(MutatePath), Port: ptr.To[int32](443),
	}}.Build()
	if err != nil {
		t.Fatal(err)
	}
	shipped.TypeMeta = want.TypeMeta
	if diff := cmp.Diff(want, &shipped); diff != "" {
		t.Errorf("shipped registration differs from Build (-build +shipped):\n%s", diff)
	}
	rbac, err := os.ReadFile("../../manifests/webhook/rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rbac), `resourceNames: ["tensile-webhook"]`) {
		t.Error("RBAC does not limit the registration patch to tensile-webhook")
	}
}
