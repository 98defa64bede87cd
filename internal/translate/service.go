package translate

import (
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Service reflection marks and scope annotations.
const (
	// AnnotationUpperSelector keeps the upper Service's selector (JSON) on the lower copy,
	// whose own selector is removed so the lower endpointslice controller leaves its
	// slices to the virtual node.
	AnnotationUpperSelector = "tensile.dev/upper-selector"
	// AnnotationReflect on an upper Service or its Namespace: "false" opts out of
	// reflection, "true" opts a kube-system Service in.
	AnnotationReflect = "tensile.dev/reflect"
	// ManagedByVirtualNode is the endpointslice.kubernetes.io/managed-by value of the
	// reflected slices: the lower endpointslice controller leaves them alone. (A label
	// value has no "/": the controller's own is "endpointslice-controller.k8s.io".)
	ManagedByVirtualNode = "virtual-node.tensile.dev"
)

// ServiceScope says when an upper Service is reflected.
type ServiceScope int

const (
	// ScopeNever: the Service is not reflected.
	ScopeNever ServiceScope = iota
	// ScopeNamespace: reflected while the lower cluster runs pods of its namespace.
	ScopeNamespace
	// ScopeAlways: reflected whatever runs below (opted-in system Services).
	ScopeAlways
)

// ServiceScopeOf decides when svc is reflected, given its namespace's annotations and
// whether system Services (default/kubernetes, kube-system) are reflected. When the
// answer is ScopeNever, reason says why.
func ServiceScopeOf(svc *corev1.Service, nsAnnotations map[string]string, systemServices bool) (ServiceScope, string) {
	switch {
	case nsAnnotations[AnnotationReflect] == "false":
		return ScopeNever, "namespace annotated " + AnnotationReflect + "=false"
	case svc.Annotations[AnnotationReflect] == "false":
		return ScopeNever, "annotated " + AnnotationReflect + "=false"
	case svc.Namespace == metav1.NamespaceSystem:
		if systemServices || svc.Annotations[AnnotationReflect] == "true" {
			return ScopeAlways, ""
		}
		return ScopeNever, "kube-system Service not opted in (--reflect-system-services or " + AnnotationReflect + "=true)"
	case svc.Namespace == metav1.NamespaceDefault && svc.Name == "kubernetes":
		if systemServices {
			return ScopeAlways, ""
		}
		return ScopeNever, "the upper API server's Service (--reflect-system-services)"
	}
	return ScopeNamespace, ""
}

// ServiceToLower returns the lower copy of an upper Service: without selector (kept in
// AnnotationUpperSelector), with its cluster IPs left to the lower cluster (headless
// stays headless), type ClusterIP for NodePort and LoadBalancer (node ports and load
// balancers are the upper cluster's), ports, session affinity and
// publishNotReadyAddresses as above. ExternalName Services are copied as they are.
func ServiceToLower(upper *corev1.Service, owner Owner) *corev1.Service {
	m := lowerMeta(upper, owner)
	delete(m.Annotations, AnnotationUpperSelector)
	if len(upper.Spec.Selector) > 0 {
		sel, _ := json.Marshal(upper.Spec.Selector) // a map of strings always marshals
		m.Annotations[AnnotationUpperSelector] = string(sel)
	}
	spec := corev1.ServiceSpec{
		Type:                     corev1.ServiceTypeClusterIP,
		SessionAffinity:          upper.Spec.SessionAffinity,
		SessionAffinityConfig:    upper.Spec.SessionAffinityConfig.DeepCopy(),
		PublishNotReadyAddresses: upper.Spec.PublishNotReadyAddresses,
	}
	if upper.Spec.Type == corev1.ServiceTypeExternalName {
		spec.Type, spec.ExternalName = corev1.ServiceTypeExternalName, upper.Spec.ExternalName
	}
	if upper.Spec.ClusterIP == corev1.ClusterIPNone {
		spec.ClusterIP, spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
	}
	for _, p := range upper.Spec.Ports {
		p.NodePort = 0
		spec.Ports = append(spec.Ports, p)
	}
	return &corev1.Service{ObjectMeta: m, Spec: spec}
}

// ServiceSpecEqual reports whether the lower Service current already has what
// ServiceToLower put in desired (the lower cluster's own fields, such as cluster IPs and
// IP families, are not compared).
func ServiceSpecEqual(current, desired *corev1.Service) bool {
	c, d := current.Spec, desired.Spec
	return c.Type == d.Type && c.ExternalName == d.ExternalName && len(c.Selector) == 0 &&
		c.SessionAffinity == d.SessionAffinity && c.PublishNotReadyAddresses == d.PublishNotReadyAddresses &&
		apiequality.Semantic.DeepEqual(c.SessionAffinityConfig, d.SessionAffinityConfig) &&
		apiequality.Semantic.DeepEqual(c.Ports, d.Ports) &&
		(c.ClusterIP == corev1.ClusterIPNone) == (d.ClusterIP == corev1.ClusterIPNone)
}

// ApplyServiceSpec writes desired's reflected fields into current, keeping what the
// lower cluster owns (cluster IPs, IP families, ...).
func ApplyServiceSpec(current, desired *corev1.Service) {
	current.Spec.Type, current.Spec.ExternalName = desired.Spec.Type, desired.Spec.ExternalName
	current.Spec.Selector = nil
	current.Spec.SessionAffinity = desired.Spec.SessionAffinity
	current.Spec.SessionAffinityConfig = desired.Spec.SessionAffinityConfig.DeepCopy()
	current.Spec.PublishNotReadyAddresses = desired.Spec.PublishNotReadyAddresses
	current.Spec.Ports = append([]corev1.ServicePort(nil), desired.Spec.Ports...)
	// Fields that only make sense for the upper types go with them.
	current.Spec.ExternalTrafficPolicy = ""
	current.Spec.HealthCheckNodePort = 0
	current.Spec.AllocateLoadBalancerNodePorts = nil
	current.Spec.LoadBalancerClass = nil
}

// ServiceNeedsRecreate reports whether current cannot become desired by an update:
// a Service's headlessness (clusterIP None) is immutable.
func ServiceNeedsRecreate(current, desired *corev1.Service) bool {
	if current.Spec.Type == corev1.ServiceTypeExternalName || desired.Spec.Type == corev1.ServiceTypeExternalName {
		return current.Spec.Type != desired.Spec.Type
	}
	return (current.Spec.ClusterIP == corev1.ClusterIPNone) != (desired.Spec.ClusterIP == corev1.ClusterIPNone)
}

// EndpointSliceToLower returns the lower copy of an upper EndpointSlice of a reflected
// Service: owned by the lower Service (garbage-collected with it), managed by the
// virtual node (the lower endpointslice controller leaves it alone), its
// kubernetes.io/service-name kept. Endpoints lose their nodeName (a virtual node is no
// lower node) and node hints; targetRef still names the upper pod (a pod of the same
// name exists below only for endpoints of this lower cluster).
func EndpointSliceToLower(upper *discoveryv1.EndpointSlice, lowerService *corev1.Service, owner Owner) *discoveryv1.EndpointSlice {
	m := lowerMeta(upper, owner)
	m.Labels[discoveryv1.LabelManagedBy] = ManagedByVirtualNode
	m.OwnerReferences = []metav1.OwnerReference{{
		APIVersion: "v1", Kind: "Service", Name: lowerService.Name, UID: lowerService.UID, Controller: ptr.To(true),
	}}
	out := &discoveryv1.EndpointSlice{ObjectMeta: m, AddressType: upper.AddressType}
	for _, p := range upper.Ports {
		out.Ports = append(out.Ports, *p.DeepCopy())
	}
	for _, e := range upper.Endpoints {
		e := *e.DeepCopy()
		e.NodeName = nil
		if e.TargetRef != nil && e.TargetRef.Namespace != "" {
			e.TargetRef.Namespace = owner.Namespaces.ToLower(e.TargetRef.Namespace)
		}
		if e.Hints != nil {
			e.Hints.ForNodes = nil
			if len(e.Hints.ForZones) == 0 {
				e.Hints = nil
			}
		}
		out.Endpoints = append(out.Endpoints, e)
	}
	return out
}
