package reflector

import (
	"context"
	"fmt"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/tensile-kube/tensile/internal/translate"
)

// Clusters gives the kinds what they read and write: upper informers (all namespaces),
// lower informers restricted to our own objects, and a lower client.
type Clusters struct {
	Upper      informers.SharedInformerFactory
	LowerOwned informers.SharedInformerFactory
	Lower      kubernetes.Interface
	// LowerAll, optional, serves every lower pod: Services follow whether the lower
	// cluster runs pods of ours in their namespace.
	LowerAll informers.SharedInformerFactory
	// UpperSecret, optional, reads one upper Secret whole from the upper API server. Set
	// it when Upper's Secrets informer keeps no data (WithoutSecretData is its
	// transform): the reflector then reads a Secret only to write its lower copy.
	UpperSecret func(ctx context.Context, namespace, name string) (*corev1.Secret, error)
}

// lowerAPI is what a typed client of one kind in one lower namespace offers.
type lowerAPI[T Object] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

// informedKind fills in a kind's informers, its cached reads (from those informers'
// indexers, as the generated listers read them) and its live reads and writes (from its
// typed lower client).
func informedKind[T Object, C lowerAPI[T]](resource schema.GroupResource, up, low cache.SharedIndexInformer, api func(namespace string) C, k Kind[T]) Kind[T] {
	k.UpperInformer, k.LowerInformer = up, low
	k.UpperGet, k.LowerGet = indexGet[T](up, resource), indexGet[T](low, resource)
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

// indexGet reads namespace/name from an informer's indexer; a missing object is a
// NotFound error of resource.
func indexGet[T Object](inf cache.SharedIndexInformer, resource schema.GroupResource) func(namespace, name string) (T, error) {
	return func(namespace, name string) (T, error) {
		var zero T
		obj, exists, err := inf.GetIndexer().GetByKey(namespace + "/" + name)
		if err != nil {
			return zero, err
		}
		if !exists {
			return zero, apierrors.NewNotFound(resource, name)
		}
		t, ok := obj.(T)
		if !ok {
			return zero, fmt.Errorf("%s %s/%s: the cache holds a %T", resource, namespace, name, obj)
		}
		return t, nil
	}
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
func ConfigMaps(c Clusters) PodKind[*corev1.ConfigMap] {
	return PodKind[*corev1.ConfigMap]{Kind: informedKind(corev1.Resource("configmaps"),
		c.Upper.Core().V1().ConfigMaps().Informer(), c.LowerOwned.Core().V1().ConfigMaps().Informer(), c.Lower.CoreV1().ConfigMaps, Kind[*corev1.ConfigMap]{
			Name: "configmap",
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
		})}
}

// PVCs reflects PersistentVolumeClaims. A copy lives as long as its upper claim (not as
// long as the pods that use it), as the data does. A claim's spec is immutable once
// bound below, so only its labels, annotations and requested size follow the upper claim.
// A copy follows its upper claim's UID, not its name: an upper claim deleted and made
// again under the same name gets a new lower claim (and volume), never the old one's
// data, so the old copy is deleted first, as its upper claim was.
func PVCs(c Clusters) PodKind[*corev1.PersistentVolumeClaim] {
	return PodKind[*corev1.PersistentVolumeClaim]{KeepUnused: true, Kind: informedKind(corev1.Resource("persistentvolumeclaims"),
		c.Upper.Core().V1().PersistentVolumeClaims().Informer(), c.LowerOwned.Core().V1().PersistentVolumeClaims().Informer(),
		c.Lower.CoreV1().PersistentVolumeClaims, Kind[*corev1.PersistentVolumeClaim]{
			Name: "persistentvolumeclaim",
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
		})}
}

// ServiceAccounts reflects the ServiceAccounts pods run as (other than "default",
// which every lower namespace has). A lower ServiceAccount of the same name that this
// node did not create is the lower cluster's own identity, possibly privileged there:
// it is used only when the lower admin allows this upper cluster on it
// (translate.AnnotationAllowUpperClusters); otherwise the pod waits. Lower tokens are
// the lower cluster's to issue; upper ones never go down.
func ServiceAccounts(c Clusters) PodKind[*corev1.ServiceAccount] {
	return PodKind[*corev1.ServiceAccount]{Kind: informedKind(corev1.Resource("serviceaccounts"),
		c.Upper.Core().V1().ServiceAccounts().Informer(), c.LowerOwned.Core().V1().ServiceAccounts().Informer(),
		c.Lower.CoreV1().ServiceAccounts, Kind[*corev1.ServiceAccount]{
			Name: "serviceaccount",
			ForeignUse: func(live *corev1.ServiceAccount, o translate.Owner) (bool, string) {
				if o.AllowedBy(live) {
					return true, ""
				}
				return false, fmt.Sprintf("it is a lower identity, used only when a lower admin annotates it %s=%s (or *)",
					translate.AnnotationAllowUpperClusters, o.UpperCluster)
			},
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
		})}
}
