package translate_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	"github.com/tensile-kube/tensile/internal/translate"
)

func upperService(mutate func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: upperMeta(nil),
		Spec: corev1.ServiceSpec{
			Type:       corev1.ServiceTypeClusterIP,
			Selector:   map[string]string{"app": "web"},
			ClusterIP:  "10.0.0.10",
			ClusterIPs: []string{"10.0.0.10"},
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
			Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80,
				TargetPort: intstr.FromInt32(8080)}},
			SessionAffinity: corev1.ServiceAffinityNone,
		},
	}
	if mutate != nil {
		mutate(s)
	}
	return s
}

func wantService(mutate func(*corev1.Service)) *corev1.Service {
	m := wantMeta()
	m.Annotations[translate.AnnotationUpperSelector] = `{"app":"web"}`
	s := &corev1.Service{
		ObjectMeta: m,
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP,
			Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80,
				TargetPort: intstr.FromInt32(8080)}},
			SessionAffinity: corev1.ServiceAffinityNone,
		},
	}
	if mutate != nil {
		mutate(s)
	}
	return s
}

func TestServiceToLower(t *testing.T) {
	for _, tc := range []struct {
		name        string
		upper, want *corev1.Service
	}{
		{
			name:  "cluster IP: selector moved to an annotation, cluster IPs and families left to the lower cluster",
			upper: upperService(nil),
			want:  wantService(nil),
		},
		{
			name: "headless stays headless",
			upper: upperService(func(s *corev1.Service) {
				s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
			}),
			want: wantService(func(s *corev1.Service) {
				s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
			}),
		},
		{
			name: "load balancer and node ports become ClusterIP; session affinity follows",
			upper: upperService(func(s *corev1.Service) {
				s.Spec.Type = corev1.ServiceTypeLoadBalancer
				s.Spec.Ports[0].NodePort = 30080
				s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
				s.Spec.HealthCheckNodePort = 31000
				s.Spec.ExternalIPs = []string{"1.2.3.4"}
				s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
				s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](60)}}
				s.Spec.PublishNotReadyAddresses = true
				s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "5.6.7.8"}}
			}),
			want: wantService(func(s *corev1.Service) {
				s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
				s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](60)}}
				s.Spec.PublishNotReadyAddresses = true
			}),
		},
		{
			name: "no selector: no selector annotation; a stale one from above is dropped",
			upper: upperService(func(s *corev1.Service) {
				s.Spec.Selector = nil
				s.Annotations[translate.AnnotationUpperSelector] = `{"x":"y"}`
			}),
			want: wantService(func(s *corev1.Service) { delete(s.Annotations, translate.AnnotationUpperSelector) }),
		},
		{
			name: "external name copied",
			upper: upperService(func(s *corev1.Service) {
				s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"}
			}),
			want: wantService(func(s *corev1.Service) {
				delete(s.Annotations, translate.AnnotationUpperSelector)
				s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"}
			}),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.upper.DeepCopy()
			got := translate.ServiceToLower(tc.upper, owner)
			checkCopy(t, tc.upper, before, tc.want, got, func(got *corev1.Service) {
				got.Labels["x"] = "y"
				if len(got.Spec.Ports) > 0 {
					got.Spec.Ports[0].Port = 1
				}
			})
			if !translate.ServiceSpecEqual(got, got.DeepCopy()) {
				t.Error("ServiceSpecEqual(copy, copy) = false")
			}
		})
	}
}

func TestServiceSpecEqualAndApply(t *testing.T) {
	// The lower API server's view of our copy: its own cluster IP and families.
	lower := translate.ServiceToLower(upperService(nil), owner)
	lower.Spec.ClusterIP, lower.Spec.ClusterIPs = "10.96.0.7", []string{"10.96.0.7"}
	lower.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
	for _, tc := range []struct {
		name      string
		upper     *corev1.Service
		equal     bool
		recreate  bool
		wantPorts []int32
	}{
		{name: "unchanged", upper: upperService(nil), equal: true, wantPorts: []int32{80}},
		{name: "port added", upper: upperService(func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "https", Protocol: corev1.ProtocolTCP, Port: 443, TargetPort: intstr.FromInt32(8443)})
		}), wantPorts: []int32{80, 443}},
		{name: "became headless", upper: upperService(func(s *corev1.Service) { s.Spec.ClusterIP = corev1.ClusterIPNone }),
			recreate: true, wantPorts: []int32{80}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			desired := translate.ServiceToLower(tc.upper, owner)
			if got := translate.ServiceSpecEqual(lower, desired); got != tc.equal {
				t.Errorf("ServiceSpecEqual = %v, want %v", got, tc.equal)
			}
			if got := translate.ServiceNeedsRecreate(lower, desired); got != tc.recreate {
				t.Errorf("ServiceNeedsRecreate = %v, want %v", got, tc.recreate)
			}
			cur := lower.DeepCopy()
			translate.ApplyServiceSpec(cur, desired)
			var ports []int32
			for _, p := range cur.Spec.Ports {
				ports = append(ports, p.Port)
			}
			if diff := cmp.Diff(tc.wantPorts, ports); diff != "" {
				t.Errorf("ports (-want +got):\n%s", diff)
			}
			if cur.Spec.ClusterIP != "10.96.0.7" {
				t.Errorf("cluster IP %q: the lower cluster's must stay", cur.Spec.ClusterIP)
			}
		})
	}
}

func TestServiceScopeOf(t *testing.T) {
	svc := func(ns, name string, ann map[string]string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: ann}}
	}
	off := map[string]string{translate.AnnotationReflect: "false"}
	on := map[string]string{translate.AnnotationReflect: "true"}
	for _, tc := range []struct {
		name   string
		svc    *corev1.Service
		nsAnn  map[string]string
		system bool
		want   translate.ServiceScope
	}{
		{"ordinary Service follows its namespace", svc("app", "web", nil), nil, false, translate.ScopeNamespace},
		{"opted out", svc("app", "web", off), nil, false, translate.ScopeNever},
		{"namespace opted out", svc("app", "web", nil), off, false, translate.ScopeNever},
		{"namespace opt-out wins over the Service's opt-in", svc("app", "web", on), off, false, translate.ScopeNever},
		{"default/kubernetes not without the flag", svc("default", "kubernetes", nil), nil, false, translate.ScopeNever},
		{"default/kubernetes with the flag", svc("default", "kubernetes", nil), nil, true, translate.ScopeAlways},
		{"other default Services follow their namespace", svc("default", "web", nil), nil, false, translate.ScopeNamespace},
		{"kube-system not without the flag", svc("kube-system", "dns", nil), nil, false, translate.ScopeNever},
		{"kube-system with the flag", svc("kube-system", "dns", nil), nil, true, translate.ScopeAlways},
		{"kube-system opted in", svc("kube-system", "metrics", on), nil, false, translate.ScopeAlways},
		{"kube-system opted out despite the flag", svc("kube-system", "dns", off), nil, true, translate.ScopeNever},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, reason := translate.ServiceScopeOf(tc.svc, tc.nsAnn, tc.system)
			if got != tc.want {
				t.Errorf("scope = %v (%s), want %v", got, reason, tc.want)
			}
			if (got == translate.ScopeNever) != (reason != "") {
				t.Errorf("reason %q: want one exactly when not reflected", reason)
			}
		})
	}
}

func TestEndpointSliceToLower(t *testing.T) {
	lowerSvc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "app", UID: "lower-svc-uid"}}
	upper := &discoveryv1.EndpointSlice{
		ObjectMeta:  upperMeta(nil),
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}},
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.1.0.5"}, NodeName: ptr.To("vk-a"), Zone: ptr.To("zone-a"),
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
				TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: "app", Name: "web-1"},
				Hints:      &discoveryv1.EndpointHints{ForNodes: []discoveryv1.ForNode{{Name: "vk-a"}}}},
			{Addresses: []string{"10.2.0.9"}, NodeName: ptr.To("vk-b"),
				Hints: &discoveryv1.EndpointHints{ForZones: []discoveryv1.ForZone{{Name: "zone-b"}}, ForNodes: []discoveryv1.ForNode{{Name: "vk-b"}}}},
		},
	}
	upper.Labels = map[string]string{discoveryv1.LabelServiceName: "web", discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"}
	m := wantMeta()
	m.Labels = map[string]string{discoveryv1.LabelServiceName: "web", discoveryv1.LabelManagedBy: translate.ManagedByVirtualNode,
		translate.LabelVirtualNode: vnode, translate.LabelUpperCluster: "upper-1"}
	m.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Service", Name: "web", UID: "lower-svc-uid", Controller: ptr.To(true)}}
	want := &discoveryv1.EndpointSlice{
		ObjectMeta:  m,
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}},
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.1.0.5"}, Zone: ptr.To("zone-a"),
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
				TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: "app", Name: "web-1"}},
			{Addresses: []string{"10.2.0.9"}, Hints: &discoveryv1.EndpointHints{ForZones: []discoveryv1.ForZone{{Name: "zone-b"}}}},
		},
	}
	for k, v := range translate.EndpointSliceToLower(upper, lowerSvc, owner).Labels {
		if msgs := validation.IsValidLabelValue(v); len(msgs) > 0 {
			t.Errorf("label %s=%q is invalid: %v", k, v, msgs)
		}
	}
	before := upper.DeepCopy()
	got := translate.EndpointSliceToLower(upper, lowerSvc, owner)
	checkCopy(t, upper, before, want, got, func(got *discoveryv1.EndpointSlice) {
		got.Endpoints[0].Addresses[0] = "x"
		*got.Ports[0].Port = 1
	})
}

func TestEndpointSliceToLowerNamespaceMap(t *testing.T) {
	mapped := owner
	var err error
	if mapped.Namespaces, err = translate.ParseNamespaceMap("{namespace}-{cluster}", owner); err != nil {
		t.Fatal(err)
	}
	upper := &discoveryv1.EndpointSlice{ObjectMeta: upperMeta(nil), Endpoints: []discoveryv1.Endpoint{
		{Addresses: []string{"10.1.0.5"}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "app", Name: "web-1"}},
	}}
	got := translate.EndpointSliceToLower(upper, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", UID: "u"}}, mapped)
	if got.Namespace != "app-upper-1" || got.Endpoints[0].TargetRef.Namespace != "app-upper-1" {
		t.Errorf("namespace %q, targetRef namespace %q: want both app-upper-1", got.Namespace, got.Endpoints[0].TargetRef.Namespace)
	}
	if upper.Endpoints[0].TargetRef.Namespace != "app" {
		t.Errorf("the upper slice was modified")
	}
}
