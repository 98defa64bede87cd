package reflector

import (
	"context"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/tensile-kube/tensile/pkg/translate"
)

// Clusters gives the kinds what they read and write: upper informers (all namespaces),
// lower informers restricted to our own objects, and a lower client.
type Clusters struct {
	Upper      informers.SharedInformerFactory
	LowerOwned informers.SharedInformerFactory
	Lower      kubernetes.Interface
}

// metaEqual compares what a copy carries from its upper object.
func metaEqual(a, b metav1.Object) bool {
	return reflect.DeepEqual(a.GetLabels(), b.GetLabels()) && reflect.DeepEqual(a.GetAnnotations(), b.GetAnnotations())
}

func setMeta(current, desired metav1.Object) {
	current.SetLabels(desired.GetLabels())
	current.SetAnnotations(desired.GetAnnotations())
}

// ConfigMaps reflects ConfigMaps.
func ConfigMaps(c Clusters) Kind[*corev1.ConfigMap] {
	up, low := c.Upper.Core().V1().ConfigMaps().Lister(), c.LowerOwned.Core().V1().ConfigMaps().Lister()
	api := c.Lower.CoreV1().ConfigMaps
	return Kind[*corev1.ConfigMap]{
		Name:     "configmap",
		UpperGet: func(ns, n string) (*corev1.ConfigMap, error) { return up.ConfigMaps(ns).Get(n) },
		LowerGet: func(ns, n string) (*corev1.ConfigMap, error) { return low.ConfigMaps(ns).Get(n) },
		LowerGetLive: func(ctx context.Context, ns, n string) (*corev1.ConfigMap, error) {
			return api(ns).Get(ctx, n, metav1.GetOptions{})
		},
		Translate: func(u *corev1.ConfigMap, o translate.Owner) (*corev1.ConfigMap, string) {
			return translate.ConfigMapToLower(u, o), ""
		},
		Equal: func(cur, want *corev1.ConfigMap) bool {
			return metaEqual(cur, want) && reflect.DeepEqual(cur.Data, want.Data) && reflect.DeepEqual(cur.BinaryData, want.BinaryData)
		},
		Update: func(cur, want *corev1.ConfigMap) {
			setMeta(cur, want)
			cur.Data, cur.BinaryData = want.Data, want.BinaryData
		},
		Create: func(ctx context.Context, o *corev1.ConfigMap) error {
			_, err := api(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
			return err
		},
		Write: func(ctx context.Context, o *corev1.ConfigMap) error {
			_, err := api(o.Namespace).Update(ctx, o, metav1.UpdateOptions{})
			return err
		},
		Delete: func(ctx context.Context, ns, n string, opts metav1.DeleteOptions) error {
			return api(ns).Delete(ctx, n, opts)
		},
	}
}

// Secrets reflects Secrets, except upper service-account tokens.
func Secrets(c Clusters) Kind[*corev1.Secret] {
	up, low := c.Upper.Core().V1().Secrets().Lister(), c.LowerOwned.Core().V1().Secrets().Lister()
	api := c.Lower.CoreV1().Secrets
	return Kind[*corev1.Secret]{
		Name:     "secret",
		UpperGet: func(ns, n string) (*corev1.Secret, error) { return up.Secrets(ns).Get(n) },
		LowerGet: func(ns, n string) (*corev1.Secret, error) { return low.Secrets(ns).Get(n) },
		LowerGetLive: func(ctx context.Context, ns, n string) (*corev1.Secret, error) {
			return api(ns).Get(ctx, n, metav1.GetOptions{})
		},
		Translate: func(u *corev1.Secret, o translate.Owner) (*corev1.Secret, string) {
			if translate.IsUpperCredential(u) {
				return nil, "upper service-account token"
			}
			return translate.SecretToLower(u, o), ""
		},
		Equal: func(cur, want *corev1.Secret) bool {
			return metaEqual(cur, want) && reflect.DeepEqual(cur.Data, want.Data)
		},
		Update: func(cur, want *corev1.Secret) {
			setMeta(cur, want)
			cur.Data = want.Data
		},
		Create: func(ctx context.Context, o *corev1.Secret) error {
			_, err := api(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
			return err
		},
		Write: func(ctx context.Context, o *corev1.Secret) error {
			_, err := api(o.Namespace).Update(ctx, o, metav1.UpdateOptions{})
			return err
		},
		Delete: func(ctx context.Context, ns, n string, opts metav1.DeleteOptions) error {
			return api(ns).Delete(ctx, n, opts)
		},
	}
}

// PVCs reflects PersistentVolumeClaims. A copy lives as long as its upper claim (not as
// long as the pods that use it), as the data does. A claim's spec is immutable once
// bound below, so only its labels, annotations and requested size follow the upper claim.
func PVCs(c Clusters) Kind[*corev1.PersistentVolumeClaim] {
	up, low := c.Upper.Core().V1().PersistentVolumeClaims().Lister(), c.LowerOwned.Core().V1().PersistentVolumeClaims().Lister()
	api := c.Lower.CoreV1().PersistentVolumeClaims
	return Kind[*corev1.PersistentVolumeClaim]{
		Name:       "persistentvolumeclaim",
		KeepUnused: true,
		UpperGet: func(ns, n string) (*corev1.PersistentVolumeClaim, error) {
			return up.PersistentVolumeClaims(ns).Get(n)
		},
		LowerGet: func(ns, n string) (*corev1.PersistentVolumeClaim, error) {
			return low.PersistentVolumeClaims(ns).Get(n)
		},
		LowerGetLive: func(ctx context.Context, ns, n string) (*corev1.PersistentVolumeClaim, error) {
			return api(ns).Get(ctx, n, metav1.GetOptions{})
		},
		Translate: func(u *corev1.PersistentVolumeClaim, o translate.Owner) (*corev1.PersistentVolumeClaim, string) {
			return translate.PVCToLower(u, o), ""
		},
		Equal: func(cur, want *corev1.PersistentVolumeClaim) bool {
			return reflect.DeepEqual(cur.Labels, want.Labels) &&
				cur.Spec.Resources.Requests.Storage().Cmp(*want.Spec.Resources.Requests.Storage()) >= 0
		},
		Update: func(cur, want *corev1.PersistentVolumeClaim) {
			// Annotations below belong partly to the lower PV controller: only add ours.
			cur.Labels = want.Labels
			if cur.Annotations == nil {
				cur.Annotations = map[string]string{}
			}
			for k, v := range want.Annotations {
				cur.Annotations[k] = v
			}
			if cur.Spec.Resources.Requests.Storage().Cmp(*want.Spec.Resources.Requests.Storage()) < 0 {
				cur.Spec.Resources.Requests[corev1.ResourceStorage] = want.Spec.Resources.Requests[corev1.ResourceStorage]
			}
		},
		Create: func(ctx context.Context, o *corev1.PersistentVolumeClaim) error {
			_, err := api(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
			return err
		},
		Write: func(ctx context.Context, o *corev1.PersistentVolumeClaim) error {
			_, err := api(o.Namespace).Update(ctx, o, metav1.UpdateOptions{})
			return err
		},
		Delete: func(ctx context.Context, ns, n string, opts metav1.DeleteOptions) error {
			return api(ns).Delete(ctx, n, opts)
		},
	}
}
