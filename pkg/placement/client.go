package placement

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
	"github.com/tensile-kube/tensile/pkg/generated/clientset/versioned"
	tensileinformers "github.com/tensile-kube/tensile/pkg/generated/informers/externalversions"
	listers "github.com/tensile-kube/tensile/pkg/generated/listers/tensile/v1alpha1"
)

// Client reads and writes PlacementExclusion objects through the generated typed
// client, naming the record in every error.
type Client struct {
	cs versioned.Interface
}

// NewClient returns a Client over cs, which is required.
func NewClient(cs versioned.Interface) (*Client, error) {
	if cs == nil {
		return nil, errors.New("placement: a tensile.dev client is required")
	}
	return &Client{cs: cs}, nil
}

// Get returns the named record. A missing record is an error for which
// apierrors.IsNotFound is true.
func (c *Client) Get(ctx context.Context, namespace, name string) (*v1alpha1.PlacementExclusion, error) {
	rec, err := c.cs.TensileV1alpha1().PlacementExclusions(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("getting placement exclusion %s/%s: %w", namespace, name, err)
	}
	return rec, nil
}

// Create creates rec and returns the stored object.
func (c *Client) Create(ctx context.Context, rec *v1alpha1.PlacementExclusion) (*v1alpha1.PlacementExclusion, error) {
	out, err := c.cs.TensileV1alpha1().PlacementExclusions(rec.Namespace).Create(ctx, rec, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating placement exclusion %s/%s: %w", rec.Namespace, rec.Name, err)
	}
	return out, nil
}

// Update replaces rec, guarded by its resourceVersion, and returns the stored object.
func (c *Client) Update(ctx context.Context, rec *v1alpha1.PlacementExclusion) (*v1alpha1.PlacementExclusion, error) {
	out, err := c.cs.TensileV1alpha1().PlacementExclusions(rec.Namespace).Update(ctx, rec, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("updating placement exclusion %s/%s: %w", rec.Namespace, rec.Name, err)
	}
	return out, nil
}

// Cache is an informer-fed, read-only view of every PlacementExclusion, for readers on
// a hot path such as the admission webhook.
type Cache struct {
	informer cache.SharedIndexInformer
	lister   listers.PlacementExclusionLister
}

// NewCache returns a Cache over cs (required), resynced every resync (0 disables).
// Call Run to fill it.
func NewCache(cs versioned.Interface, resync time.Duration) (*Cache, error) {
	if cs == nil {
		return nil, errors.New("placement: a tensile.dev client is required")
	}
	inf := tensileinformers.NewSharedInformerFactory(cs, resync).Tensile().V1alpha1().PlacementExclusions()
	return &Cache{informer: inf.Informer(), lister: inf.Lister()}, nil
}

// Run fills and watches the cache until ctx ends.
func (c *Cache) Run(ctx context.Context) {
	c.informer.RunWithContext(ctx)
}

// HasSynced reports whether the first list has been loaded.
func (c *Cache) HasSynced() bool {
	return c.informer.HasSynced()
}

// Get returns the named record from the cache (shared: callers must not modify it);
// ok is false when there is none.
func (c *Cache) Get(namespace, name string) (rec *v1alpha1.PlacementExclusion, ok bool, err error) {
	rec, err = c.lister.PlacementExclusions(namespace).Get(name)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, false, nil
		}
		return nil, false, err
	}
	return rec, true, nil
}
