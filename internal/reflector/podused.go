package reflector

import (
	"context"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/cache"
)

// PodKind is a kind whose objects are copied below while pods use them (ConfigMaps,
// Secrets, PVCs, ServiceAccounts): pods declare what they use with Track and Release.
type PodKind[T Object] struct {
	Kind[T]
	// KeepUnused keeps a copy while its upper object exists even when no pod uses it
	// any more: a claim's data outlives the pods that mount it.
	KeepUnused bool
}

// Reflector reflects one kind of objects that pods use. Only used objects are copied
// down, and copies nobody uses any more are removed.
type Reflector[T Object] struct {
	*engine[T]

	mu    sync.Mutex
	users map[string]sets.Set[string] // object key -> keys of pods using it
	uses  map[string]sets.Set[string] // pod key -> object keys it uses
}

// New returns the reflector of a kind that pods use, its handlers registered on the
// kind's informers (start them after New).
func New[T Object](kind PodKind[T], cfg Config) (*Reflector[T], error) {
	e, err := newEngine(kind.Kind, cfg)
	if err != nil {
		return nil, err
	}
	r := &Reflector[T]{engine: e, users: map[string]sets.Set[string]{}, uses: map[string]sets.Set[string]{}}
	e.keepUnused = kind.KeepUnused
	e.relevant = r.usedByPods
	e.wanted = func(key string) (bool, string) { return r.usedByPods(key), "" }
	if err := e.register(); err != nil {
		return nil, err
	}
	return r, nil
}

// Track records that pod uses the named objects of this kind (replacing what it used
// before) and queues those it no longer uses, so unused copies are removed.
func (r *Reflector[T]) Track(pod types.NamespacedName, names sets.Set[string]) {
	podKey := pod.String()
	keys := sets.New[string]()
	for n := range names {
		keys.Insert(pod.Namespace + "/" + n)
	}
	r.mu.Lock()
	old := r.uses[podKey]
	r.uses[podKey] = keys
	for k := range keys {
		if r.users[k] == nil {
			r.users[k] = sets.New[string]()
		}
		r.users[k].Insert(podKey)
	}
	released := old.Difference(keys)
	r.release(podKey, released)
	r.mu.Unlock()
	for k := range released {
		r.queue.Add(k)
	}
}

// Tracked returns the pods that use something of this kind (Track without Release).
func (r *Reflector[T]) Tracked() []types.NamespacedName {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]types.NamespacedName, 0, len(r.uses))
	for key := range r.uses {
		if ns, name, err := cache.SplitMetaNamespaceKey(key); err == nil {
			out = append(out, types.NamespacedName{Namespace: ns, Name: name})
		}
	}
	return out
}

// Release records that pod uses nothing of this kind any more.
func (r *Reflector[T]) Release(pod types.NamespacedName) {
	r.Track(pod, nil)
	r.mu.Lock()
	delete(r.uses, pod.String())
	r.mu.Unlock()
}

func (r *Reflector[T]) release(podKey string, keys sets.Set[string]) {
	for k := range keys {
		if u := r.users[k]; u != nil {
			u.Delete(podKey)
			if u.Len() == 0 {
				delete(r.users, k)
			}
		}
	}
}

func (r *Reflector[T]) usedByPods(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.users[key].Len() > 0
}

// UpperExists reports whether the upper object namespace/name exists (informer cache).
func (r *Reflector[T]) UpperExists(namespace, name string) (bool, error) {
	_, err := r.kind.UpperGet(namespace, name)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// LowerForeign reports whether the lower namespace of upperNamespace holds an object
// of the name that this node did not create: a lower pod referencing the name would
// use it. It reads the API server, as the owned cache cannot see foreign objects.
func (r *Reflector[T]) LowerForeign(ctx context.Context, upperNamespace, name string) (bool, error) {
	live, err := r.kind.LowerGetLive(ctx, r.cfg.Owner.Namespaces.ToLower(upperNamespace), name)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return !r.cfg.Owner.Owns(live), nil
}
