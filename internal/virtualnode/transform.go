package virtualnode

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"

	"github.com/tensile-kube/tensile/internal/reflector"
	"github.com/tensile-kube/tensile/internal/translate"
	"github.com/tensile-kube/tensile/pkg/capacity"
)

// withoutManagedFields is the informer transform of every cache: no code of ours reads
// managedFields, and they are often the largest part of an object.
func withoutManagedFields(obj any) (any, error) {
	if m, err := meta.Accessor(obj); err == nil {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

// upperTransform is the transform of the upper informers (all namespaces): no
// managedFields, and Secrets without their data (reflector.WithoutSecretData), which
// the Secrets reflector reads from the upper API server when it writes a lower copy. The
// Secrets of upper pods nobody runs below are then never held in memory.
func upperTransform(obj any) (any, error) {
	if _, err := reflector.WithoutSecretData(obj); err != nil {
		return nil, err
	}
	return withoutManagedFields(obj)
}

// lowerTransform is the transform of the informers of every lower pod, node, namespace
// and PriorityClass. A lower pod that is not the node's own (the lower cluster's, or
// another virtual node's) keeps only what the capacity model reads (capacity.ModelPod):
// at 10,000 lower pods they are most of the virtual node's memory. Our own pods stay
// whole (their status goes up): a pod carrying the owner's labels is kept, which is
// what the owner's label selector lists and a superset of what Owner.Owns accepts.
func lowerTransform(owner translate.Owner) cache.TransformFunc {
	own := owner.Selector()
	return func(obj any) (any, error) {
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			return withoutManagedFields(obj)
		}
		if own.Matches(labels.Set(pod.Labels)) {
			pod.ManagedFields = nil
			return pod, nil
		}
		return capacity.ModelPod(pod), nil
	}
}
