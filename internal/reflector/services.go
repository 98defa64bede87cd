package reflector

import (
	"sync"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"

	"github.com/tensile-kube/tensile/internal/translate"
)

// ServiceOptions configures the reflection of Services.
type ServiceOptions struct {
	// Owner is the reflectors' owner: it tells our lower pods and their upper namespaces.
	Owner translate.Owner
	// SystemServices reflects default/kubernetes and the kube-system Services too.
	SystemServices bool
	// NamespaceUsed reports whether the lower cluster runs pods of this virtual node in
	// the upper namespace: an ordinary Service is reflected while it does. When nil, it
	// is read from Clusters.LowerAll's pods.
	NamespaceUsed func(namespace string) bool
}

// Services reflects Services: those of the namespaces the lower cluster runs pods of
// (and, as configured, system Services), without their selector, so that the lower
// endpointslice controller leaves their slices to EndpointSlices. Opt-outs and
// opt-ins are translate.ServiceScopeOf's. A namespace's Services are requeued when it
// starts or stops running pods of ours below (Clusters.LowerAll's pods) and when the
// upper namespace changes (its opt-out annotation).
func Services(c Clusters, o ServiceOptions) NamespaceKind[*corev1.Service] {
	up, low := c.Upper.Core().V1().Services().Lister(), c.LowerOwned.Core().V1().Services().Lister()
	nss := c.Upper.Core().V1().Namespaces().Lister()
	use := &namespaceUse{owner: o.Owner, counts: map[string]int{}}
	if o.NamespaceUsed == nil && c.LowerAll != nil {
		o.NamespaceUsed = use.used
	}
	k := NamespaceKind[*corev1.Service]{
		Kind: informedKind(corev1.Resource("services"), c.Upper.Core().V1().Services().Informer(),
			c.LowerOwned.Core().V1().Services().Informer(), c.Lower.CoreV1().Services, Kind[*corev1.Service]{
				Name: "service",
				Translate: func(u *corev1.Service, o translate.Owner) (*corev1.Service, string) {
					return translate.ServiceToLower(u, o), ""
				},
				Equal: func(cur, want *corev1.Service) bool {
					return metaEqual(cur, want) && translate.ServiceSpecEqual(cur, want)
				},
				Update: func(cur, want *corev1.Service) {
					setMeta(cur, want)
					translate.ApplyServiceSpec(cur, want)
				},
				NeedsRecreate: translate.ServiceNeedsRecreate,
			}),
		Wanted: func(ns, n string) (bool, string) {
			svc, err := up.Services(ns).Get(n)
			if err != nil {
				return false, ""
			}
			var nsAnnotations map[string]string
			if namespace, err := nss.Get(ns); err == nil {
				nsAnnotations = namespace.Annotations
			}
			switch scope, why := translate.ServiceScopeOf(svc, nsAnnotations, o.SystemServices); scope {
			case translate.ScopeAlways:
				return true, ""
			case translate.ScopeNamespace:
				return o.NamespaceUsed != nil && o.NamespaceUsed(ns), ""
			default:
				return false, why
			}
		},
		UpperList: func(ns string, sel labels.Selector) ([]*corev1.Service, error) { return up.Services(ns).List(sel) },
		LowerList: func(ns string, sel labels.Selector) ([]*corev1.Service, error) { return low.Services(ns).List(sel) },
		Triggers: []Trigger{{
			Informer: c.Upper.Core().V1().Namespaces().Informer(), On: OnUpdate,
			Select: func(obj any) (string, labels.Selector, bool) {
				if ns, ok := unwrap(obj).(*corev1.Namespace); ok {
					return ns.Name, labels.Everything(), true
				}
				return "", nil, false
			},
		}},
	}
	if c.LowerAll != nil {
		// A pod's arrival or departure below (not its updates) changes what is used,
		// and only a namespace's first pod below and its last one do.
		pods := c.LowerAll.Core().V1().Pods().Informer()
		k.Triggers = append(k.Triggers,
			Trigger{Informer: pods, On: OnAdd, Select: use.added},
			Trigger{Informer: pods, On: OnDelete, Select: use.deleted})
	}
	return k
}

// namespaceUse counts the node's pods below per upper namespace from the lower pod
// informer's arrivals and departures, so that whether a namespace is used costs a map
// read. Listing the namespace's pods on every arrival instead made a burst of n pods
// cost O(n^2) label matches (9% of the virtual node's CPU at 1,000 pods in make bench).
type namespaceUse struct {
	owner  translate.Owner
	mu     sync.Mutex
	counts map[string]int // upper namespace -> our pods below
}

// upperNamespace returns the upper namespace of obj if it is one of our lower pods.
func (u *namespaceUse) upperNamespace(obj any) (string, bool) {
	pod, ok := unwrap(obj).(*corev1.Pod)
	if !ok || !u.owner.Owns(pod) {
		return "", false
	}
	return u.owner.Namespaces.ToUpper(pod.Namespace)
}

// added counts an arriving pod and selects its namespace's Services if it is the first.
func (u *namespaceUse) added(obj any) (string, labels.Selector, bool) {
	ns, ok := u.upperNamespace(obj)
	if !ok {
		return "", nil, false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.counts[ns]++
	return ns, labels.Everything(), u.counts[ns] == 1
}

// deleted uncounts a departing pod and selects its namespace's Services if it was the last.
func (u *namespaceUse) deleted(obj any) (string, labels.Selector, bool) {
	ns, ok := u.upperNamespace(obj)
	if !ok {
		return "", nil, false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.counts[ns] <= 1 {
		delete(u.counts, ns)
		return ns, labels.Everything(), true
	}
	u.counts[ns]--
	return ns, labels.Everything(), false
}

// used reports whether pods of ours run below in the upper namespace ns.
func (u *namespaceUse) used(ns string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.counts[ns] > 0
}

// unwrap returns the object of a delete tombstone, or obj.
func unwrap(obj any) any {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return tomb.Obj
	}
	return obj
}

// EndpointSlices reflects the upper EndpointSlices of reflected Services (label
// kubernetes.io/service-name naming a Service we created below), owned by that lower
// Service. The upper slices list the pod IPs of every lower cluster. Requeue a
// Service's slices (ServiceSlices) are requeued when its lower copy changes.
// namespaces is the owner's namespace map: it locates the lower Service of an upper
// slice.
func EndpointSlices(c Clusters, namespaces translate.NamespaceMap) NamespaceKind[*discoveryv1.EndpointSlice] {
	up, low := c.Upper.Discovery().V1().EndpointSlices().Lister(), c.LowerOwned.Discovery().V1().EndpointSlices().Lister()
	lowSvc := c.LowerOwned.Core().V1().Services()
	lowerService := func(upper *discoveryv1.EndpointSlice) (*corev1.Service, error) {
		return lowSvc.Lister().Services(namespaces.ToLower(upper.Namespace)).Get(upper.Labels[discoveryv1.LabelServiceName])
	}
	kind := informedKind(discoveryv1.Resource("endpointslices"), c.Upper.Discovery().V1().EndpointSlices().Informer(),
		c.LowerOwned.Discovery().V1().EndpointSlices().Informer(), c.Lower.DiscoveryV1().EndpointSlices, Kind[*discoveryv1.EndpointSlice]{
			Name: "endpointslice",
			Translate: func(u *discoveryv1.EndpointSlice, o translate.Owner) (*discoveryv1.EndpointSlice, string) {
				svc, err := lowerService(u)
				if err != nil {
					return nil, "its Service is not reflected"
				}
				return translate.EndpointSliceToLower(u, svc, o), ""
			},
			Equal: func(cur, want *discoveryv1.EndpointSlice) bool {
				return metaEqual(cur, want) && equality.Semantic.DeepEqual(cur.OwnerReferences, want.OwnerReferences) &&
					cur.AddressType == want.AddressType && equality.Semantic.DeepEqual(cur.Ports, want.Ports) &&
					equality.Semantic.DeepEqual(cur.Endpoints, want.Endpoints)
			},
			Update: func(cur, want *discoveryv1.EndpointSlice) {
				setMeta(cur, want)
				cur.OwnerReferences, cur.Ports, cur.Endpoints = want.OwnerReferences, want.Ports, want.Endpoints
			},
		})
	return NamespaceKind[*discoveryv1.EndpointSlice]{
		Kind: kind,
		Wanted: func(ns, n string) (bool, string) {
			s, err := up.EndpointSlices(ns).Get(n)
			if err != nil || s.Labels[discoveryv1.LabelServiceName] == "" {
				return false, ""
			}
			_, err = lowerService(s)
			return err == nil, ""
		},
		UpperList: func(ns string, sel labels.Selector) ([]*discoveryv1.EndpointSlice, error) {
			return up.EndpointSlices(ns).List(sel)
		},
		LowerList: func(ns string, sel labels.Selector) ([]*discoveryv1.EndpointSlice, error) {
			return low.EndpointSlices(ns).List(sel)
		},
		Triggers: []Trigger{{
			Informer: lowSvc.Informer(), On: OnAll,
			Select: func(obj any) (string, labels.Selector, bool) {
				s, ok := unwrap(obj).(*corev1.Service)
				if !ok {
					return "", nil, false
				}
				ns, ok := namespaces.ToUpper(s.Namespace)
				return ns, ServiceSlices(s.Name), ok
			},
		}},
	}
}

// ServiceSlices selects the EndpointSlices of the Service name.
func ServiceSlices(name string) labels.Selector {
	return labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: name})
}
