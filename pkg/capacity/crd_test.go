package capacity

import (
	"context"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	crdvalidation "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	schemavalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
)

// TestCRDAcceptsPublishedSummaries validates the CRD as the API server would
// (structural schema included) and checks that what the publisher writes passes it.
func TestCRDAcceptsPublishedSummaries(t *testing.T) {
	raw, err := os.ReadFile("../../manifests/crds/tensile.dev_clustersummaries.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var ext apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(raw, &ext); err != nil {
		t.Fatal(err)
	}
	apiextensionsv1.SetObjectDefaults_CustomResourceDefinition(&ext)
	var crd apiextensions.CustomResourceDefinition
	if err := apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(&ext, &crd, nil); err != nil {
		t.Fatal(err)
	}
	if errs := crdvalidation.ValidateCustomResourceDefinition(context.Background(), &crd); len(errs) > 0 {
		t.Fatalf("CRD invalid: %v", errs)
	}
	// The internal form hoists a schema shared by every version to spec.validation.
	validation := crd.Spec.Validation
	if validation == nil {
		validation = crd.Spec.Versions[0].Schema
	}
	props := validation.OpenAPIV3Schema
	st, err := schema.NewStructural(props)
	if err != nil {
		t.Fatal(err)
	}
	if errs := schema.ValidateStructural(field.NewPath("schema"), st); len(errs) > 0 {
		t.Fatalf("schema not structural: %v", errs)
	}
	validator, _, err := schemavalidation.NewSchemaValidator(props)
	if err != nil {
		t.Fatal(err)
	}
	m := NewModel(Options{})
	apply(m, addN(makeNode("a", "8", "32Gi", withTaint("gpu", "x", corev1.TaintEffectNoSchedule), withAlloc("nvidia.com/gpu", "2"))),
		addN(makeNode("b", "8", "32Gi")), addP(makePod("p", "a", "1", "1Gi")))
	status := m.Summary()
	status.VirtualNode, status.UpdateTime = "vk-a", metav1.NewMicroTime(time.Now())
	cs := &v1alpha1.ClusterSummary{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.SchemeGroupVersion.String(), Kind: v1alpha1.ClusterSummaryKind},
		ObjectMeta: metav1.ObjectMeta{Name: "vk-a"}, Status: *status,
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(cs)
	if err != nil {
		t.Fatal(err)
	}
	if errs := schemavalidation.ValidateCustomResource(nil, obj, validator); len(errs) > 0 {
		t.Fatalf("published summary rejected by the CRD schema: %v", errs)
	}
}
