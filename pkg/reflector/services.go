package reflector

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/tensile-kube/tensile/pkg/translate"
)

// ServiceOptions configures the reflection of Services.
type ServiceOptions struct {
	// SystemServices reflects default/kubernetes and the kube-system Services too.
	SystemServices bool
	// NamespaceUsed reports whether the lower cluster runs pods of this virtual node in
	// namespace: an ordinary Service is reflected while it does.
	NamespaceUsed func(namespace string) bool
}

// Services reflects Services: those of the namespaces the lower cluster runs pods of
// (and, as configured, system Services), without their selector, so that the lower
// endpointslice controller leaves their slices to EndpointSlices. Opt-outs and
// opt-ins are translate.ServiceScopeOf's. Requeue a namespace when it starts or stops
// running pods below, or when its annotations change.
func Services(c Clusters, o ServiceOptions) Kind[*corev1.Service] {
	up, low := c.Upper.Core().V1().Services().Lister(), c.LowerOwned.Core().V1().Services().Lister()
	nss := c.Upper.Core().V1().Namespaces().Lister()
	api := c.Lower.CoreV1().Services
	return withLowerAPI(api, Kind[*corev1.Service]{
		Name:     "service",
		UpperGet: func(ns, n string) (*corev1.Service, error) { return up.Services(ns).Get(n) },
		LowerGet: func(ns, n string) (*corev1.Service, error) { return low.Services(ns).Get(n) },
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
	})
}

// EndpointSlices reflects the upper EndpointSlices of reflected Services (label
// kubernetes.io/service-name naming a Service we created below), owned by that lower
// Service. The upper slices list the pod IPs of every lower cluster. Requeue a
// Service's slices (ServiceSlices) when its lower copy changes. namespaces is the
// owner's namespace map: it locates the lower Service of an upper slice.
func EndpointSlices(c Clusters, namespaces translate.NamespaceMap) Kind[*discoveryv1.EndpointSlice] {
	up, low := c.Upper.Discovery().V1().EndpointSlices().Lister(), c.LowerOwned.Discovery().V1().EndpointSlices().Lister()
	lowSvc := c.LowerOwned.Core().V1().Services().Lister()
	api := c.Lower.DiscoveryV1().EndpointSlices
	lowerService := func(upper *discoveryv1.EndpointSlice) (*corev1.Service, error) {
		return lowSvc.Services(namespaces.ToLower(upper.Namespace)).Get(upper.Labels[discoveryv1.LabelServiceName])
	}
	return withLowerAPI(api, Kind[*discoveryv1.EndpointSlice]{
		Name:     "endpointslice",
		UpperGet: func(ns, n string) (*discoveryv1.EndpointSlice, error) { return up.EndpointSlices(ns).Get(n) },
		LowerGet: func(ns, n string) (*discoveryv1.EndpointSlice, error) { return low.EndpointSlices(ns).Get(n) },
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
}

// ServiceSlices selects the EndpointSlices of the Service name.
func ServiceSlices(name string) labels.Selector {
	return labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: name})
}
