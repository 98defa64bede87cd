package placement

import (
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"

	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
)

// GVR is the group, version and resource PlacementExclusions are served under.
var GVR = v1alpha1.SchemeGroupVersion.WithResource(v1alpha1.PlacementExclusionResource)

// Client reads and writes PlacementExclusion objects through a dynamic client, so the
// project needs no generated clientset for its one small kind.
type Client struct {
	dyn dynamic.Interface
}

// NewClient returns a Client over dyn, which is required.
func NewClient(dyn dynamic.Interface) (*Client, error) {
	if dyn == nil {
		return nil, errors.New("placement: a dynamic client is required")
	}
	return &Client{dyn: dyn}, nil
}

// Get returns the named record. A missing record is an error for which
// apierrors.IsNotFound is true.
func (c *Client) Get(ctx context.Context, namespace, name string) (*v1alpha1.PlacementExclusion, error) {
	u, err := c.dyn.Resource(GVR).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("getting placement exclusion %s/%s: %w", namespace, name, err)
	}
	return FromUnstructured(u)
}

// Create creates rec and returns the stored object.
func (c *Client) Create(ctx context.Context, rec *v1alpha1.PlacementExclusion) (*v1alpha1.PlacementExclusion, error) {
	u, err := ToUnstructured(rec)
	if err != nil {
		return nil, err
	}
	u, err = c.dyn.Resource(GVR).Namespace(rec.Namespace).Create(ctx, u, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating placement exclusion %s/%s: %w", rec.Namespace, rec.Name, err)
	}
	return FromUnstructured(u)
}

// Update replaces rec, guarded by its resourceVersion, and returns the stored object.
func (c *Client) Update(ctx context.Context, rec *v1alpha1.PlacementExclusion) (*v1alpha1.PlacementExclusion, error) {
	u, err := ToUnstructured(rec)
	if err != nil {
		return nil, err
	}
	u, err = c.dyn.Resource(GVR).Namespace(rec.Namespace).Update(ctx, u, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("updating placement exclusion %s/%s: %w", rec.Namespace, rec.Name, err)
	}
	return FromUnstructured(u)
}

// ToUnstructured converts rec for the dynamic client, setting its apiVersion and kind.
func ToUnstructured(rec *v1alpha1.PlacementExclusion) (*unstructured.Unstructured, error) {
	rec = rec.DeepCopy()
	rec.APIVersion = v1alpha1.SchemeGroupVersion.String()
	rec.Kind = v1alpha1.PlacementExclusionKind
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(rec)
	if err != nil {
		return nil, fmt.Errorf("converting placement exclusion %s/%s: %w", rec.Namespace, rec.Name, err)
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// FromUnstructured converts an object read by the dynamic client.
func FromUnstructured(u *unstructured.Unstructured) (*v1alpha1.PlacementExclusion, error) {
	rec := &v1alpha1.PlacementExclusion{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.UnstructuredContent(), rec); err != nil {
		return nil, fmt.Errorf("decoding placement exclusion %s/%s: %w", u.GetNamespace(), u.GetName(), err)
	}
	return rec, nil
}

// Cache is an informer-fed, read-only view of every PlacementExclusion, for readers on
// a hot path such as the admission webhook.
type Cache struct {
	informer cache.SharedIndexInformer
}

// NewCache returns a Cache over dyn (required), resynced every resync (0 disables).
// Call Run to fill it.
func NewCache(dyn dynamic.Interface, resync time.Duration) (*Cache, error) {
	if dyn == nil {
		return nil, errors.New("placement: a dynamic client is required")
	}
	inf := dynamicinformer.NewFilteredDynamicInformer(dyn, GVR, metav1.NamespaceAll, resync,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}, nil)
	return &Cache{informer: inf.Informer()}, nil
}

// Run fills and watches the cache until ctx ends.
func (c *Cache) Run(ctx context.Context) {
	c.informer.RunWithContext(ctx)
}

// HasSynced reports whether the first list has been loaded.
func (c *Cache) HasSynced() bool {
	return c.informer.HasSynced()
}

// Get returns the named record from the cache; ok is false when there is none.
func (c *Cache) Get(namespace, name string) (rec *v1alpha1.PlacementExclusion, ok bool, err error) {
	obj, found, err := c.informer.GetIndexer().GetByKey(namespace + "/" + name)
	if err != nil || !found {
		return nil, false, err
	}
	u, isU := obj.(*unstructured.Unstructured)
	if !isU {
		return nil, false, fmt.Errorf("placement exclusion cache holds a %T", obj)
	}
	rec, err = FromUnstructured(u)
	if err != nil {
		return nil, false, err
	}
	return rec, true, nil
}
