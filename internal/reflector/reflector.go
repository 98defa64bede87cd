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
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/tensile-kube/tensile/internal/translate"
)

// Object is what every reflected kind is: a Kubernetes object with metadata.
type Object interface {
	metav1.Object
	runtime.Object
}

// Kind describes how one resource kind is read, translated, compared and written. How
// its objects come to be wanted below is the mode's: PodKind (pods use them) or
// NamespaceKind (a policy over namespaces wants them).
type Kind[T Object] struct {
	// Name is the kind's name in logs, events and metrics ("configmap").
	Name string
	// UpperInformer and LowerInformer are the informers UpperGet and LowerGet read: the
	// reflector registers its own handlers on them, so a kind cannot be built and then
	// never hear of its objects.
	UpperInformer, LowerInformer cache.SharedIndexInformer
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
	// NeedsRecreate, optional, reports that current cannot become desired by an update
	// (an immutable field changed): the copy is deleted and created again.
	NeedsRecreate func(current, desired T) bool
	// Complete, optional, returns the desired copy whole when the upper cache leaves part
	// of the object out (Secrets' data, see WithoutSecretData): Translate's result is
	// enough to compare, and the reflector calls Complete only before it writes.
	Complete func(ctx context.Context, upper T, owner translate.Owner) (desired T, err error)
	// ForeignUse, when set, decides whether a lower object of the same name that no
	// virtual node created may serve as it is (ok), and otherwise says what would allow
	// it (hint, for the event): a lower ServiceAccount is a lower identity, usable only
	// when the lower admin says so. Without it, when it says no, or when the object is
	// another virtual node's copy (which that node removes when it no longer needs it),
	// the object is in the way: an event, no copy.
	ForeignUse func(live T, owner translate.Owner) (ok bool, hint string)
}

// validate reports a missing function or informer.
func (k *Kind[T]) validate() error {
	if k.Name == "" || k.UpperGet == nil || k.LowerGet == nil || k.LowerGetLive == nil ||
		k.Translate == nil || k.Equal == nil || k.Update == nil || k.Create == nil ||
		k.Write == nil || k.Delete == nil {
		return fmt.Errorf("reflector: kind %q is missing a function", k.Name)
	}
	if k.UpperInformer == nil || k.LowerInformer == nil {
		return fmt.Errorf("reflector: kind %q is missing an informer", k.Name)
	}
	return nil
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

// engine is what both modes share: the work queue, the handlers on the kind's
// informers, and the reconciliation of one object (handle). Objects are named by their
// upper namespace and name throughout; lower copies live in the lower namespace
// Owner.Namespaces maps it to.
type engine[T Object] struct {
	kind  Kind[T]
	cfg   Config
	queue workqueue.TypedRateLimitingInterface[string]

	// wanted reports whether the existing upper object of key is to be copied below,
	// and if a policy excludes it, why.
	wanted func(key string) (bool, string)
	// relevant reports whether an upper event for key can change anything below.
	relevant func(key string) bool
	// keepUnused keeps a copy while its upper object exists, wanted or not.
	keepUnused bool

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

// newEngine validates kind and cfg and builds the queue; the mode sets wanted and
// relevant, then calls register.
func newEngine[T Object](kind Kind[T], cfg Config) (*engine[T], error) {
	if err := kind.validate(); err != nil {
		return nil, err
	}
	if cfg.Owner.VirtualNode == "" || cfg.Owner.UpperCluster == "" {
		return nil, errors.New("reflector: owner is required")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	return &engine[T]{
		kind: kind,
		cfg:  cfg,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "reflector_" + kind.Name}),
	}, nil
}

// KindName is the kind's name in logs, events and metrics ("configmap").
func (r *engine[T]) KindName() string { return r.kind.Name }

// register adds the handlers of the kind's upper and lower (owned) informers.
func (r *engine[T]) register() error {
	enqueueUpper := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil && (r.keepUnused || r.relevant(key)) {
			r.queue.Add(key)
		}
	}
	enqueueLower := func(obj any) {
		if key, ok := r.upperKey(obj); ok {
			r.queue.Add(key)
		}
	}
	count := reflected.WithLabelValues(r.kind.Name)
	if _, err := r.kind.UpperInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueueUpper, UpdateFunc: func(_, n any) { enqueueUpper(n) }, DeleteFunc: enqueueUpper,
	}); err != nil {
		return fmt.Errorf("reflector %s: upper informer: %w", r.kind.Name, err)
	}
	if _, err := r.kind.LowerInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { count.Inc(); enqueueLower(obj) },
		UpdateFunc: func(_, n any) { enqueueLower(n) },
		DeleteFunc: func(obj any) { count.Dec(); enqueueLower(obj) },
	}); err != nil {
		return fmt.Errorf("reflector %s: lower informer: %w", r.kind.Name, err)
	}
	return nil
}

// Ensure makes the lower copy of namespace/name current now (or removes it, if it is
// not wanted any more); pods call it before they are created below, so a pod never
// starts without its ConfigMaps, Secrets and PVCs.
func (r *engine[T]) Ensure(ctx context.Context, namespace, name string) error {
	return r.handle(ctx, namespace+"/"+name)
}

// upperKey returns the upper key of a lower object (or of its tombstone); ok is false
// for an object outside this node's namespaces.
func (r *engine[T]) upperKey(obj any) (string, bool) {
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

// Run processes the queue until ctx ends.
func (r *engine[T]) Run(ctx context.Context) {
	defer utilruntime.HandleCrash()
	defer r.queue.ShutDown()
	for i := 0; i < r.cfg.Workers; i++ {
		go wait.UntilWithContext(ctx, r.worker, time.Second)
	}
	<-ctx.Done()
}

// Len is the queue depth (exported as workqueue_depth{name="reflector_<kind>"} where
// the command installs component-base's work-queue metrics).
func (r *engine[T]) Len() int { return r.queue.Len() }

func (r *engine[T]) worker(ctx context.Context) {
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

func (r *engine[T]) handle(ctx context.Context, key string) (err error) {
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
		used, why = r.wanted(key)
	}
	if apierrors.IsNotFound(uerr) || (!used && !(r.keepUnused && haveLower)) {
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
		if desired, err = r.complete(ctx, upper, desired); err != nil {
			return err
		}
		return r.create(ctx, upper, desired)
	}
	if r.kind.Equal(lower, desired) {
		return nil
	}
	if desired, err = r.complete(ctx, upper, desired); err != nil {
		return err
	}
	if r.kind.Complete != nil && r.kind.Equal(lower, desired) {
		return nil // the cache was behind the upper object, which the copy already matches
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

// complete returns desired whole (Kind.Complete) before it is written.
func (r *engine[T]) complete(ctx context.Context, upper, desired T) (T, error) {
	if r.kind.Complete == nil {
		return desired, nil
	}
	whole, err := r.kind.Complete(ctx, upper, r.cfg.Owner)
	if err != nil {
		return desired, fmt.Errorf("%s %s/%s: reading the whole upper object: %w", r.kind.Name, upper.GetNamespace(), upper.GetName(), err)
	}
	return whole, nil
}

// logSkip logs, once per object and reason, why an object is not reflected.
func (r *engine[T]) logSkip(ctx context.Context, key, why string) {
	if why == "" {
		r.skipped.Delete(key)
		return
	}
	if prev, loaded := r.skipped.Swap(key, why); !loaded || prev != why {
		klog.FromContext(ctx).V(2).Info("Not reflecting object", "kind", r.kind.Name, "key", key, "reason", why)
	}
}

func (r *engine[T]) create(ctx context.Context, upper, desired T) error {
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
func (r *engine[T]) replace(ctx context.Context, current, desired T) error {
	if r.kind.NeedsRecreate == nil || !r.kind.NeedsRecreate(current, desired) {
		return nil
	}
	if err := r.delete(ctx, current); err != nil {
		return err
	}
	return fmt.Errorf("%s %s/%s: %w: the old copy is deleted first (an immutable field changed, or it mirrors an earlier upper object of the name)",
		r.kind.Name, current.GetNamespace(), current.GetName(), ErrReplacing)
}

func (r *engine[T]) delete(ctx context.Context, lower T) error {
	uid := lower.GetUID()
	err := r.kind.Delete(ctx, lower.GetNamespace(), lower.GetName(), metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // gone, or replaced by an object that is not this one
	}
	return err
}
