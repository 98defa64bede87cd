// Package reflector keeps lower-cluster copies of the upper objects that the virtual
// node's pods depend on. One generic mechanism owns the work queue, the reference counts,
// the ownership checks and the deletes; each reflected kind only says how to read,
// translate, compare and write its objects (see kinds.go).
package reflector

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/tensile-kube/tensile/pkg/translate"
)

// Object is what every reflected kind is: a Kubernetes object with metadata.
type Object interface {
	metav1.Object
	runtime.Object
}

// Kind describes how one resource kind is reflected.
type Kind[T Object] struct {
	// Name is the kind's name in logs, events and metrics ("configmap").
	Name string
	// KeepUnused keeps a copy while its upper object exists even when no pod uses it
	// any more: a claim's data outlives the pods that mount it.
	KeepUnused bool
	// ForeignUse, when set, decides whether a lower object of the same name that no
	// virtual node created may serve as it is (ok), and otherwise says what would allow
	// it (hint, for the event): a lower ServiceAccount is a lower identity, usable only
	// when the lower admin says so. Without it, when it says no, or when the object is
	// another virtual node's copy (which that node removes when it no longer needs it),
	// the object is in the way: an event, no copy.
	ForeignUse func(live T, owner translate.Owner) (ok bool, hint string)
	// UpperGet reads the upper object (from an informer cache).
	UpperGet func(namespace, name string) (T, error)
	// LowerGet reads our lower copy (from an informer cache of owned objects). Lower
	// functions take lower namespaces; the reflector maps them (Owner.Namespaces).
	LowerGet func(namespace, name string) (T, error)
	// LowerGetLive reads the lower object from the API server, owned or not, to tell a
	// foreign object from a cache that is behind.
	LowerGetLive func(ctx context.Context, namespace, name string) (T, error)
	// Translate returns the desired lower copy; skip=true means the object must not be
	// reflected (e.g. an upper credential), with the reason.
	Translate func(upper T, owner translate.Owner) (desired T, skip string)
	// Equal reports whether the lower copy already matches the desired one.
	Equal func(current, desired T) bool
	// Update turns current into desired in place (keeping what the lower cluster owns,
	// such as resourceVersion or a PVC's binding) before it is written.
	Update func(current, desired T)
	Create func(ctx context.Context, obj T) error
	Write  func(ctx context.Context, obj T) error
	Delete func(ctx context.Context, namespace, name string, opts metav1.DeleteOptions) error

	// Wanted, when set, replaces pod usage (Track/Release): an object is copied while
	// Wanted says so (e.g. a Service while the lower cluster runs pods of its
	// namespace). why says, when a policy excludes the object, why; it is logged once.
	Wanted func(namespace, name string) (wanted bool, why string)
	// UpperList and LowerList list the upper and our lower objects of a namespace
	// ("" for all) matching a selector, for Requeue. Required with Wanted.
	UpperList func(namespace string, selector labels.Selector) ([]T, error)
	LowerList func(namespace string, selector labels.Selector) ([]T, error)
	// NeedsRecreate, optional, reports that current cannot become desired by an update
	// (an immutable field changed): the copy is deleted and created again.
	NeedsRecreate func(current, desired T) bool
}

// Config configures a Reflector.
type Config struct {
	// Owner marks what the reflector creates and limits what it may touch.
	Owner translate.Owner
	// Recorder records events on upper objects (a foreign object in the way, ...).
	Recorder record.EventRecorder
	// Workers is the number of concurrent handlers; default 4.
	Workers int
	// EnsureNamespace, when set, makes the lower namespace of an upper one exist before
	// a copy is created in it: a mapped namespace (Owner.Namespaces) exists below only
	// once something of ours needs it, and system Services need no pod to be reflected.
	EnsureNamespace func(ctx context.Context, upperNamespace string) error
}

// Reflector reflects one kind. Pods declare what they use with Track/Release; only
// used objects are copied down, and copies nobody uses any more are removed. Objects
// are named by their upper namespace and name throughout; lower copies live in the
// lower namespace Owner.Namespaces maps it to.
type Reflector[T Object] struct {
	kind  Kind[T]
	cfg   Config
	queue workqueue.TypedRateLimitingInterface[string]

	mu    sync.Mutex
	users map[string]sets.Set[string] // object key -> keys of pods using it
	uses  map[string]sets.Set[string] // pod key -> object keys it uses

	skipped sync.Map // object key -> why it was last skipped (logged once)
}

// ReasonForeignObject is the reason of the event recorded on an upper object when a
// lower object of the same name is not ours.
const ReasonForeignObject = "ForeignObjectExists"

// ErrForeign is returned when a lower object of the same name exists and is not ours.
var ErrForeign = errors.New("a lower-cluster object of the same name exists and was not created by this virtual node")

// ErrReplacing is returned while a lower copy is deleted to be created anew (an
// immutable field changed, or it mirrors an earlier upper object of the same name):
// the new copy follows once the old one is gone.
var ErrReplacing = errors.New("the lower copy is being replaced")

// New returns a reflector for one kind.
func New[T Object](kind Kind[T], cfg Config) (*Reflector[T], error) {
	if kind.Name == "" || kind.UpperGet == nil || kind.LowerGet == nil || kind.LowerGetLive == nil ||
		kind.Translate == nil || kind.Equal == nil || kind.Update == nil || kind.Create == nil ||
		kind.Write == nil || kind.Delete == nil {
		return nil, fmt.Errorf("reflector: kind %q is missing a function", kind.Name)
	}
	if kind.Wanted != nil && (kind.UpperList == nil || kind.LowerList == nil) {
		return nil, fmt.Errorf("reflector: kind %q has Wanted but no UpperList/LowerList", kind.Name)
	}
	if cfg.Owner.VirtualNode == "" || cfg.Owner.UpperCluster == "" {
		return nil, errors.New("reflector: owner is required")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	return &Reflector[T]{
		kind: kind,
		cfg:  cfg,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "reflector_" + kind.Name}),
		users: map[string]sets.Set[string]{},
		uses:  map[string]sets.Set[string]{},
	}, nil
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

// used reports whether the object of key is to be copied below, and if a policy
// excludes it, why.
func (r *Reflector[T]) used(key string) (bool, string) {
	if r.kind.Wanted != nil {
		ns, name, err := cache.SplitMetaNamespaceKey(key)
		if err != nil {
			return false, ""
		}
		return r.kind.Wanted(ns, name)
	}
	return r.usedByPods(key), ""
}

func (r *Reflector[T]) usedByPods(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.users[key].Len() > 0
}

// Ensure makes the lower copy of namespace/name current now; pods call it before they
// are created below, so a pod never starts without its ConfigMaps, Secrets and PVCs.
func (r *Reflector[T]) Ensure(ctx context.Context, namespace, name string) error {
	return r.handle(ctx, namespace+"/"+name)
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

// Handlers returns the event handlers for the upper and the lower (owned) informer.
func (r *Reflector[T]) Handlers() (upper, lower cache.ResourceEventHandler) {
	enqueueUsed := func(obj any) {
		// Kinds with Wanted decide in handle (a deleted upper object is no longer wanted,
		// yet its copy must go).
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil &&
			(r.kind.Wanted != nil || r.usedByPods(key) || r.kind.KeepUnused) {
			r.queue.Add(key)
		}
	}
	enqueueLower := func(obj any) {
		if key, ok := r.upperKey(obj); ok {
			r.queue.Add(key)
		}
	}
	upper = cache.ResourceEventHandlerFuncs{AddFunc: enqueueUsed, UpdateFunc: func(_, n any) { enqueueUsed(n) }, DeleteFunc: enqueueUsed}
	count := reflected.WithLabelValues(r.kind.Name)
	lower = cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { count.Inc(); enqueueLower(obj) },
		UpdateFunc: func(_, n any) { enqueueLower(n) },
		DeleteFunc: func(obj any) { count.Dec(); enqueueLower(obj) },
	}
	return upper, lower
}

// upperKey returns the upper key of a lower object (or of its tombstone); ok is false
// for an object outside this node's namespaces.
func (r *Reflector[T]) upperKey(obj any) (string, bool) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return "", false
	}
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return "", false
	}
	upperNS, ok := r.cfg.Owner.Namespaces.ToUpper(ns)
	return upperNS + "/" + name, ok
}

// Requeue queues the upper and our lower objects of the upper namespace ("" for all)
// that match selector: what Wanted says of them may have changed (a namespace started
// or stopped running pods below, a Service was reflected, ...). Kinds without Wanted
// ignore it.
func (r *Reflector[T]) Requeue(namespace string, selector labels.Selector) {
	if r.kind.Wanted == nil {
		return
	}
	uppers, err := r.kind.UpperList(namespace, selector)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("requeueing %s in %q: %w", r.kind.Name, namespace, err))
	}
	for _, o := range uppers {
		r.queue.Add(o.GetNamespace() + "/" + o.GetName())
	}
	lowers, err := r.kind.LowerList(r.cfg.Owner.Namespaces.ToLower(namespace), selector)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("requeueing lower %s of %q: %w", r.kind.Name, namespace, err))
	}
	for _, o := range lowers {
		if key, ok := r.upperKey(o); ok {
			r.queue.Add(key)
		}
	}
}

// Run processes the queue until ctx ends.
func (r *Reflector[T]) Run(ctx context.Context) {
	defer utilruntime.HandleCrash()
	defer r.queue.ShutDown()
	for i := 0; i < r.cfg.Workers; i++ {
		go wait.UntilWithContext(ctx, r.worker, time.Second)
	}
	<-ctx.Done()
}

// Len is the queue depth (exported as workqueue_depth{name="reflector_<kind>"} where
// the command installs component-base's work-queue metrics).
func (r *Reflector[T]) Len() int { return r.queue.Len() }

func (r *Reflector[T]) worker(ctx context.Context) {
	for {
		key, quit := r.queue.Get()
		if quit {
			return
		}
		err := r.handle(ctx, key)
		switch {
		case err == nil:
			r.queue.Forget(key)
		case errors.Is(err, ErrForeign):
			// Nothing we do fixes it; the event says so. Retry slowly in case it goes.
			r.queue.AddAfter(key, time.Minute)
		default:
			klog.FromContext(ctx).Error(err, "Reflecting object", "kind", r.kind.Name, "key", key)
			r.queue.AddRateLimited(key)
		}
		r.queue.Done(key)
	}
}

func (r *Reflector[T]) handle(ctx context.Context, key string) (err error) {
	start := time.Now()
	op := "noop"
	defer func() { observe(r.kind.Name, op, err, start) }()
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	upper, uerr := r.kind.UpperGet(namespace, name)
	if uerr != nil && !apierrors.IsNotFound(uerr) {
		return uerr
	}
	lower, lerr := r.kind.LowerGet(r.cfg.Owner.Namespaces.ToLower(namespace), name)
	if lerr != nil && !apierrors.IsNotFound(lerr) {
		return lerr
	}
	haveLower := lerr == nil && r.cfg.Owner.Owns(lower)
	used, why := false, ""
	if uerr == nil {
		used, why = r.used(key)
	}
	if apierrors.IsNotFound(uerr) || (!used && !(r.kind.KeepUnused && haveLower)) {
		r.logSkip(ctx, key, why)
		if !haveLower {
			return nil
		}
		op = "delete"
		return r.delete(ctx, lower)
	}
	desired, skip := r.kind.Translate(upper, r.cfg.Owner)
	r.logSkip(ctx, key, skip)
	if skip != "" {
		if !haveLower {
			return nil
		}
		op = "delete"
		return r.delete(ctx, lower)
	}
	if !haveLower {
		op = "create"
		return r.create(ctx, upper, desired)
	}
	if r.kind.Equal(lower, desired) {
		return nil
	}
	if err := r.replace(ctx, lower, desired); err != nil {
		op = "delete"
		return err
	}
	op = "update"
	current := lower.DeepCopyObject().(T)
	r.kind.Update(current, desired)
	return r.kind.Write(ctx, current)
}

// logSkip logs, once per object and reason, why an object is not reflected.
func (r *Reflector[T]) logSkip(ctx context.Context, key, why string) {
	if why == "" {
		r.skipped.Delete(key)
		return
	}
	if prev, loaded := r.skipped.Swap(key, why); !loaded || prev != why {
		klog.FromContext(ctx).V(2).Info("Not reflecting object", "kind", r.kind.Name, "key", key, "reason", why)
	}
}

func (r *Reflector[T]) create(ctx context.Context, upper, desired T) error {
	if r.cfg.EnsureNamespace != nil {
		if err := r.cfg.EnsureNamespace(ctx, upper.GetNamespace()); err != nil {
			return err
		}
	}
	err := r.kind.Create(ctx, desired)
	if err == nil || !apierrors.IsAlreadyExists(err) {
		return err
	}
	// Either our cache is behind, or someone else's object has the name.
	live, gerr := r.kind.LowerGetLive(ctx, desired.GetNamespace(), desired.GetName())
	if gerr != nil {
		return gerr
	}
	if !r.cfg.Owner.Owns(live) {
		hint := ""
		if r.kind.ForeignUse != nil && !translate.MarkedByAnyNode(live) {
			var ok bool
			if ok, hint = r.kind.ForeignUse(live, r.cfg.Owner); ok {
				return nil
			}
			hint = ": " + hint
		}
		if r.cfg.Recorder != nil {
			r.cfg.Recorder.Eventf(upper, corev1.EventTypeWarning, ReasonForeignObject,
				"Not reflecting %s %s/%s: the lower cluster has an object of that name that this virtual node did not create%s",
				r.kind.Name, desired.GetNamespace(), desired.GetName(), hint)
		}
		return fmt.Errorf("%s %s/%s: %w%s", r.kind.Name, desired.GetNamespace(), desired.GetName(), ErrForeign, hint)
	}
	if r.kind.Equal(live, desired) {
		return nil
	}
	if err := r.replace(ctx, live, desired); err != nil {
		return err
	}
	r.kind.Update(live, desired)
	return r.kind.Write(ctx, live)
}

// replace deletes current when it cannot become desired by an update, and then says
// so with ErrReplacing (retried until the copy is gone and made anew).
func (r *Reflector[T]) replace(ctx context.Context, current, desired T) error {
	if r.kind.NeedsRecreate == nil || !r.kind.NeedsRecreate(current, desired) {
		return nil
	}
	if err := r.delete(ctx, current); err != nil {
		return err
	}
	return fmt.Errorf("%s %s/%s: %w: the old copy is deleted first (an immutable field changed, or it mirrors an earlier upper object of the name)",
		r.kind.Name, current.GetNamespace(), current.GetName(), ErrReplacing)
}

func (r *Reflector[T]) delete(ctx context.Context, lower T) error {
	uid := lower.GetUID()
	err := r.kind.Delete(ctx, lower.GetNamespace(), lower.GetName(), metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // gone, or replaced by an object that is not this one
	}
	return err
}
