package reflector

import (
	"context"
	"fmt"
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

// lowerAPI is what a typed client of one kind in one lower namespace offers.
type lowerAPI[T Object] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

// withLowerAPI fills in a kind's live reads and writes from its typed lower client.
func withLowerAPI[T Object, C lowerAPI[T]](api func(namespace string) C, k Kind[T]) Kind[T] {
	k.LowerGetLive = func(ctx context.Context, ns, n string) (T, error) { return api(ns).Get(ctx, n, metav1.GetOptions{}) }
	k.Create = func(ctx context.Context, o T) error {
		_, err := api(o.GetNamespace()).Create(ctx, o, metav1.CreateOptions{})
		return err
	}
	k.Write = func(ctx context.Context, o T) error {
		_, err := api(o.GetNamespace()).Update(ctx, o, metav1.UpdateOptions{})
		return err
	}
	k.Delete = func(ctx context.Context, ns, n string, opts metav1.DeleteOptions) error {
		return api(ns).Delete(ctx, n, opts)
	}
	return k
}

// hasAll reports whether m holds every key of want with its value.
func hasAll(m, want map[string]string) bool {
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			return false
		}
	}
	return true
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
	return withLowerAPI(api, Kind[*corev1.ConfigMap]{
		Name:     "configmap",
		UpperGet: func(ns, n string) (*corev1.ConfigMap, error) { return up.ConfigMaps(ns).Get(n) },
		LowerGet: func(ns, n string) (*corev1.ConfigMap, error) { return low.ConfigMaps(ns).Get(n) },
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
	})
}

// Secrets reflects Secrets, except upper service-account tokens.
func Secrets(c Clusters) Kind[*corev1.Secret] {
	up, low := c.Upper.Core().V1().Secrets().Lister(), c.LowerOwned.Core().V1().Secrets().Lister()
	api := c.Lower.CoreV1().Secrets
	return withLowerAPI(api, Kind[*corev1.Secret]{
		Name:     "secret",
		UpperGet: func(ns, n string) (*corev1.Secret, error) { return up.Secrets(ns).Get(n) },
		LowerGet: func(ns, n string) (*corev1.Secret, error) { return low.Secrets(ns).Get(n) },
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
	})
}

// PVCs reflects PersistentVolumeClaims. A copy lives as long as its upper claim (not as
// long as the pods that use it), as the data does. A claim's spec is immutable once
// bound below, so only its labels, annotations and requested size follow the upper claim.
// A copy follows its upper claim's UID, not its name: an upper claim deleted and made
// again under the same name gets a new lower claim (and volume), never the old one's
// data, so the old copy is deleted first, as its upper claim was.
func PVCs(c Clusters) Kind[*corev1.PersistentVolumeClaim] {
	up, low := c.Upper.Core().V1().PersistentVolumeClaims().Lister(), c.LowerOwned.Core().V1().PersistentVolumeClaims().Lister()
	api := c.Lower.CoreV1().PersistentVolumeClaims
	return withLowerAPI(api, Kind[*corev1.PersistentVolumeClaim]{
		Name:       "persistentvolumeclaim",
		KeepUnused: true,
		UpperGet: func(ns, n string) (*corev1.PersistentVolumeClaim, error) {
			return up.PersistentVolumeClaims(ns).Get(n)
		},
		LowerGet: func(ns, n string) (*corev1.PersistentVolumeClaim, error) {
			return low.PersistentVolumeClaims(ns).Get(n)
		},
		Translate: func(u *corev1.PersistentVolumeClaim, o translate.Owner) (*corev1.PersistentVolumeClaim, string) {
			return translate.PVCToLower(u, o), ""
		},
		Equal: func(cur, want *corev1.PersistentVolumeClaim) bool {
			return reflect.DeepEqual(cur.Labels, want.Labels) && hasAll(cur.Annotations, want.Annotations) &&
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
		NeedsRecreate: func(cur, want *corev1.PersistentVolumeClaim) bool {
			return translate.UpperUID(cur) != translate.UpperUID(want)
		},
	})
}

// ServiceAccounts reflects the ServiceAccounts pods run as (other than "default",
// which every lower namespace has). A lower ServiceAccount of the same name that this
// node did not create is the lower cluster's own identity, possibly privileged there:
// it is used only when the lower admin allows this upper cluster on it
// (translate.AnnotationAllowUpperClusters); otherwise the pod waits. Lower tokens are
// the lower cluster's to issue; upper ones never go down.
func ServiceAccounts(c Clusters) Kind[*corev1.ServiceAccount] {
	up, low := c.Upper.Core().V1().ServiceAccounts().Lister(), c.LowerOwned.Core().V1().ServiceAccounts().Lister()
	api := c.Lower.CoreV1().ServiceAccounts
	return withLowerAPI(api, Kind[*corev1.ServiceAccount]{
		Name: "serviceaccount",
		ForeignUse: func(live *corev1.ServiceAccount, o translate.Owner) (bool, string) {
			if o.AllowedBy(live) {
				return true, ""
			}
			return false, fmt.Sprintf("it is a lower identity, used only when a lower admin annotates it %s=%s (or *)",
				translate.AnnotationAllowUpperClusters, o.UpperCluster)
		},
		UpperGet: func(ns, n string) (*corev1.ServiceAccount, error) { return up.ServiceAccounts(ns).Get(n) },
		LowerGet: func(ns, n string) (*corev1.ServiceAccount, error) { return low.ServiceAccounts(ns).Get(n) },
		Translate: func(u *corev1.ServiceAccount, o translate.Owner) (*corev1.ServiceAccount, string) {
			return translate.ServiceAccountToLower(u, o), ""
		},
		Equal: func(cur, want *corev1.ServiceAccount) bool {
			return metaEqual(cur, want) && reflect.DeepEqual(cur.AutomountServiceAccountToken, want.AutomountServiceAccountToken)
		},
		Update: func(cur, want *corev1.ServiceAccount) {
			setMeta(cur, want)
			cur.AutomountServiceAccountToken = want.AutomountServiceAccountToken
		},
	})
}
