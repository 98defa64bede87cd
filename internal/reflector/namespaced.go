package reflector

import (
	"fmt"

	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/tools/cache"
)

// NamespaceKind is a kind whose objects are copied below while a policy wants them,
// whatever pods use (Services while the lower cluster runs pods of their namespace,
// EndpointSlices of reflected Services).
type NamespaceKind[T Object] struct {
	Kind[T]
	// Wanted says whether an existing upper object is to be copied; why says, when a
	// policy excludes the object, why (logged once).
	Wanted func(namespace, name string) (wanted bool, why string)
	// UpperList and LowerList list the upper and our lower objects of a namespace
	// ("" for all) matching a selector, for Requeue.
	UpperList func(namespace string, selector labels.Selector) ([]T, error)
	LowerList func(namespace string, selector labels.Selector) ([]T, error)
	// Triggers are the other objects whose changes change what Wanted says: the
	// reflector registers their handlers and requeues what they select.
	Triggers []Trigger
}

// Events selects the informer events a Trigger reacts to.
type Events uint8

// The events of a Trigger.
const (
	OnAdd Events = 1 << iota
	OnUpdate
	OnDelete
	OnAll = OnAdd | OnUpdate | OnDelete
)

// Trigger requeues a namespace-driven kind's objects when another object changes.
type Trigger struct {
	// Informer is the informer of the other object.
	Informer cache.SharedIndexInformer
	// On says which of its events count.
	On Events
	// Select returns the upper namespace ("" for all) and the selector of the objects to
	// requeue for obj (which may be a delete tombstone); ok=false requeues nothing.
	Select func(obj any) (namespace string, selector labels.Selector, ok bool)
}

// Namespaced reflects one namespace-driven kind.
type Namespaced[T Object] struct {
	*engine[T]
	policy NamespaceKind[T]
}

// NewNamespaced returns the reflector of a namespace-driven kind, its handlers and its
// triggers' handlers registered (start the informers after NewNamespaced).
func NewNamespaced[T Object](kind NamespaceKind[T], cfg Config) (*Namespaced[T], error) {
	if kind.Wanted == nil || kind.UpperList == nil || kind.LowerList == nil {
		return nil, fmt.Errorf("reflector: kind %q needs Wanted, UpperList and LowerList", kind.Name)
	}
	e, err := newEngine(kind.Kind, cfg)
	if err != nil {
		return nil, err
	}
	r := &Namespaced[T]{engine: e, policy: kind}
	// A deleted upper object is no longer wanted, yet its copy must go: every upper
	// event is handled, and handle asks Wanted.
	e.relevant = func(string) bool { return true }
	e.wanted = func(key string) (bool, string) {
		ns, name, err := cache.SplitMetaNamespaceKey(key)
		if err != nil {
			return false, ""
		}
		return kind.Wanted(ns, name)
	}
	if err := e.register(); err != nil {
		return nil, err
	}
	for i, t := range kind.Triggers {
		if err := r.addTrigger(t); err != nil {
			return nil, fmt.Errorf("reflector %s: trigger %d: %w", kind.Name, i, err)
		}
	}
	return r, nil
}

func (r *Namespaced[T]) addTrigger(t Trigger) error {
	if t.Informer == nil || t.Select == nil || t.On == 0 {
		return fmt.Errorf("needs an informer, events and Select")
	}
	requeue := func(obj any) {
		if ns, sel, ok := t.Select(obj); ok {
			r.Requeue(ns, sel)
		}
	}
	h := cache.ResourceEventHandlerFuncs{}
	if t.On&OnAdd != 0 {
		h.AddFunc = requeue
	}
	if t.On&OnUpdate != 0 {
		h.UpdateFunc = func(_, n any) { requeue(n) }
	}
	if t.On&OnDelete != 0 {
		h.DeleteFunc = requeue
	}
	_, err := t.Informer.AddEventHandler(h)
	return err
}

// Requeue queues the upper and our lower objects of the upper namespace ("" for all)
// that match selector: what Wanted says of them may have changed (a namespace started
// or stopped running pods below, a Service was reflected, ...). The kind's Triggers
// call it; tests and callers may too.
func (r *Namespaced[T]) Requeue(namespace string, selector labels.Selector) {
	uppers, err := r.policy.UpperList(namespace, selector)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("requeueing %s in %q: %w", r.kind.Name, namespace, err))
	}
	for _, o := range uppers {
		r.queue.Add(o.GetNamespace() + "/" + o.GetName())
	}
	lowers, err := r.policy.LowerList(r.cfg.Owner.Namespaces.ToLower(namespace), selector)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("requeueing lower %s of %q: %w", r.kind.Name, namespace, err))
	}
	for _, o := range lowers {
		if key, ok := r.upperKey(o); ok {
			r.queue.Add(key)
		}
	}
}
