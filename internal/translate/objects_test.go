package translate_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/tensile-kube/tensile/internal/translate"
)

// upperMeta is metadata as the upper API server returns it: cluster-specific fields that
// must not travel, and labels/annotations that must.
func upperMeta(annotations map[string]string) metav1.ObjectMeta {
	a := map[string]string{
		"note":                             "kept",
		corev1.LastAppliedConfigAnnotation: `{"kind":"ConfigMap"}`,
	}
	for k, v := range annotations {
		a[k] = v
	}
	return metav1.ObjectMeta{
		Name: "cfg", Namespace: "app", UID: "upper-uid", ResourceVersion: "77", Generation: 2,
		CreationTimestamp: metav1.Now(),
		Labels:            map[string]string{"app": "web"},
		Annotations:       a,
		OwnerReferences:   []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "dep-uid"}},
		Finalizers:        []string{"example.com/keep"},
		ManagedFields:     []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
	}
}

// wantMeta is the metadata of the lower copy of an object with upperMeta.
func wantMeta() metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: "cfg", Namespace: "app",
		Labels:      map[string]string{"app": "web", translate.LabelVirtualNode: vnode, translate.LabelUpperCluster: "upper-1"},
		Annotations: map[string]string{"note": "kept", translate.AnnotationUpperUID: "upper-uid", translate.AnnotationNamespaceMap: "{namespace}"},
	}
}

// checkCopy is the shared check: the expected copy, an unmodified input, and no memory
// shared between them (mutate reaches into the copy's data).
func checkCopy[T any](t *testing.T, in, before, want, got T, mutate func(got T)) {
	t.Helper()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lower copy (-want +got):\n%s", diff)
	}
	mutate(got)
	if diff := cmp.Diff(before, in); diff != "" {
		t.Errorf("upper object modified or shared (-before +after):\n%s", diff)
	}
}

func TestConfigMapToLower(t *testing.T) {
	for _, tc := range []struct {
		name  string
		upper *corev1.ConfigMap
		want  *corev1.ConfigMap
	}{
		{
			name: "data and binary data kept, cluster metadata stripped, marked",
			upper: &corev1.ConfigMap{ObjectMeta: upperMeta(nil), Immutable: ptr.To(true),
				Data: map[string]string{"username": "vk-demo"}, BinaryData: map[string][]byte{"blob": {1, 2}}},
			want: &corev1.ConfigMap{ObjectMeta: wantMeta(), Immutable: ptr.To(true),
				Data: map[string]string{"username": "vk-demo"}, BinaryData: map[string][]byte{"blob": {1, 2}}},
		},
		{
			name:  "no labels or annotations still marked",
			upper: &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "app", UID: "upper-uid"}},
			want: &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "app",
				Labels:      owner.Labels(),
				Annotations: map[string]string{translate.AnnotationUpperUID: "upper-uid", translate.AnnotationNamespaceMap: "{namespace}"}}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.upper.DeepCopy()
			got := translate.ConfigMapToLower(tc.upper, owner)
			checkCopy(t, tc.upper, before, tc.want, got, func(got *corev1.ConfigMap) {
				for k := range got.Data {
					got.Data[k] = "mutated"
				}
				for k := range got.BinaryData {
					got.BinaryData[k][0] = 9
				}
				got.Labels["mutated"] = "yes"
			})
		})
	}
}

func TestSecretToLower(t *testing.T) {
	upper := &corev1.Secret{ObjectMeta: upperMeta(nil), Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{"USER_NAME": []byte("admin")}}
	want := &corev1.Secret{ObjectMeta: wantMeta(), Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{"USER_NAME": []byte("admin")}}
	before := upper.DeepCopy()
	got := translate.SecretToLower(upper, owner)
	checkCopy(t, upper, before, want, got, func(got *corev1.Secret) {
		got.Data["USER_NAME"][0] = 'X'
		got.Annotations["mutated"] = "yes"
	})
}

func TestIsUpperCredential(t *testing.T) {
	for _, tc := range []struct {
		typ  corev1.SecretType
		want bool
	}{
		{corev1.SecretTypeServiceAccountToken, true},
		{corev1.SecretTypeOpaque, false},
		{corev1.SecretTypeDockerConfigJson, false},
		{corev1.SecretTypeTLS, false},
		{"", false},
	} {
		t.Run(string(tc.typ), func(t *testing.T) {
			if got := translate.IsUpperCredential(&corev1.Secret{Type: tc.typ}); got != tc.want {
				t.Errorf("IsUpperCredential(type %q) = %v, want %v", tc.typ, got, tc.want)
			}
		})
	}
}

func TestPVCToLower(t *testing.T) {
	spec := func(volumeName string) corev1.PersistentVolumeClaimSpec {
		return corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: ptr.To("fast"),
			VolumeName:       volumeName,
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceStorage: resource.MustParse("50Mi"),
			}},
		}
	}
	upper := &corev1.PersistentVolumeClaim{
		ObjectMeta: upperMeta(map[string]string{
			"pv.kubernetes.io/bind-completed":               "yes",
			"pv.kubernetes.io/bound-by-controller":          "yes",
			"volume.beta.kubernetes.io/storage-provisioner": "ebs.csi.aws.com",
			"volume.kubernetes.io/storage-provisioner":      "ebs.csi.aws.com",
			"volume.kubernetes.io/selected-node":            vnode,
		}),
		Spec:   spec("pvc-1234"),
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound},
	}
	want := &corev1.PersistentVolumeClaim{ObjectMeta: wantMeta(), Spec: spec("")}
	before := upper.DeepCopy()
	got := translate.PVCToLower(upper, owner)
	checkCopy(t, upper, before, want, got, func(got *corev1.PersistentVolumeClaim) {
		got.Spec.AccessModes[0] = corev1.ReadWriteMany
		*got.Spec.StorageClassName = "mutated"
	})
}

func TestServiceAccountToLower(t *testing.T) {
	upper := &corev1.ServiceAccount{
		ObjectMeta:                   upperMeta(nil),
		Secrets:                      []corev1.ObjectReference{{Name: "web-token-x"}},
		ImagePullSecrets:             []corev1.LocalObjectReference{{Name: "registry"}},
		AutomountServiceAccountToken: ptr.To(false),
	}
	want := &corev1.ServiceAccount{ObjectMeta: wantMeta(), AutomountServiceAccountToken: ptr.To(false)}
	before := upper.DeepCopy()
	got := translate.ServiceAccountToLower(upper, owner)
	checkCopy(t, upper, before, want, got, func(got *corev1.ServiceAccount) { *got.AutomountServiceAccountToken = true })
}

func TestSecretDataHash(t *testing.T) {
	a := translate.SecretDataHash(map[string][]byte{"a": []byte("bc"), "d": nil})
	for name, other := range map[string]map[string][]byte{
		"bytes moved from value to key": {"ab": []byte("c"), "d": nil},
		"another value":                 {"a": []byte("bd"), "d": nil},
		"a key less":                    {"a": []byte("bc")},
	} {
		if translate.SecretDataHash(other) == a {
			t.Errorf("%s: same hash as the original", name)
		}
	}
	if b := translate.SecretDataHash(map[string][]byte{"d": {}, "a": []byte("bc")}); b != a {
		t.Errorf("same data, another map: %s != %s", b, a)
	}
	if len(a) != 64 {
		t.Errorf("hash %q is not hex SHA-256", a)
	}
}
