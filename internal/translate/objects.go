package translate

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// lowerMeta is the metadata of a lower copy: name, namespace, labels and annotations of
// the upper object plus our marks; nothing cluster-specific (UID, owners, finalizers).
func lowerMeta(upper metav1.Object, owner Owner, dropAnnotations ...string) metav1.ObjectMeta {
	m := metav1.ObjectMeta{
		Name:        upper.GetName(),
		Namespace:   owner.Namespaces.ToLower(upper.GetNamespace()),
		Labels:      maps.Clone(upper.GetLabels()),
		Annotations: maps.Clone(upper.GetAnnotations()),
	}
	delete(m.Annotations, corev1.LastAppliedConfigAnnotation)
	for _, a := range dropAnnotations {
		delete(m.Annotations, a)
	}
	owner.Mark(&m, upper.GetUID())
	return m
}

// ConfigMapToLower returns the lower copy of an upper ConfigMap.
func ConfigMapToLower(upper *corev1.ConfigMap, owner Owner) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: lowerMeta(upper, owner),
		Data:       maps.Clone(upper.Data),
		BinaryData: copyBytes(upper.BinaryData),
		Immutable:  upper.Immutable,
	}
}

// SecretToLower returns the lower copy of an upper Secret. Service-account token Secrets
// are upper credentials and are never copied (callers check IsUpperCredential first).
func SecretToLower(upper *corev1.Secret, owner Owner) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: lowerMeta(upper, owner),
		Type:       upper.Type,
		Data:       copyBytes(upper.Data),
		Immutable:  upper.Immutable,
	}
}

// IsUpperCredential reports whether a Secret holds an upper-cluster credential.
func IsUpperCredential(s *corev1.Secret) bool {
	return s.Type == corev1.SecretTypeServiceAccountToken
}

// ServiceAccountToLower returns the lower ServiceAccount of an upper one: its name,
// labels, annotations and automount setting, and none of its secrets (upper tokens and
// image-pull secrets stay above; the pod carries its image-pull secrets itself).
func ServiceAccountToLower(upper *corev1.ServiceAccount, owner Owner) *corev1.ServiceAccount {
	sa := &corev1.ServiceAccount{ObjectMeta: lowerMeta(upper, owner)}
	if b := upper.AutomountServiceAccountToken; b != nil {
		sa.AutomountServiceAccountToken = ptr.To(*b)
	}
	return sa
}

// pvcBindingAnnotations are written by the upper PV controller about the upper binding;
// below they would claim a binding that does not exist.
var pvcBindingAnnotations = []string{
	"pv.kubernetes.io/bind-completed",
	"pv.kubernetes.io/bound-by-controller",
	"volume.beta.kubernetes.io/storage-provisioner",
	"volume.kubernetes.io/storage-provisioner",
	"volume.kubernetes.io/selected-node",
}

// PVCToLower returns the lower copy of an upper PersistentVolumeClaim: the claim without
// its upper binding (volumeName), so the lower cluster binds it to its own volume.
func PVCToLower(upper *corev1.PersistentVolumeClaim, owner Owner) *corev1.PersistentVolumeClaim {
	spec := *upper.Spec.DeepCopy()
	spec.VolumeName = ""
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: lowerMeta(upper, owner, pvcBindingAnnotations...),
		Spec:       spec,
	}
}

func copyBytes(m map[string][]byte) map[string][]byte {
	if m == nil {
		return nil
	}
	out := make(map[string][]byte, len(m))
	for k, v := range m {
		out[k] = append([]byte(nil), v...)
	}
	return out
}

// AnnotationDataHash records the SHA-256 of a Secret's data (SecretDataHash). A lower
// Secret copy carries it, for the data it was written with; the virtual node's cache of
// upper Secrets carries it in place of the data, which it does not keep (see
// reflector.WithoutSecretData). It is never written above.
const AnnotationDataHash = "tensile.dev/data-sha256"

// SecretDataHash returns the hex SHA-256 of a Secret's data: its keys in order, each key
// and value prefixed by its length, so that no two different maps hash alike by
// shifting bytes between a key and its value.
func SecretDataHash(data map[string][]byte) string {
	h := sha256.New()
	var n [8]byte
	write := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	for _, k := range slices.Sorted(maps.Keys(data)) {
		write([]byte(k))
		write(data[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}
