package reflector_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/ptr"

	"github.com/tensile-kube/tensile/internal/eventually"
	"github.com/tensile-kube/tensile/internal/reflector"
	"github.com/tensile-kube/tensile/internal/translate"
)

// svcEnv runs the Service and EndpointSlice reflectors (each registers its handlers
// and triggers); namespaces in used run pods below.
type svcEnv struct {
	*env
	used     atomic.Value // map[string]bool
	services *reflector.Namespaced[*corev1.Service]
	slices   *reflector.Namespaced[*discoveryv1.EndpointSlice]
	logger   klog.Logger
}

// logs returns what the reflectors logged.
func (e *svcEnv) logs() string {
	return e.logger.GetSink().(ktesting.Underlier).GetBuffer().String()
}

func startServices(t *testing.T, upperObjs, lowerObjs []runtime.Object, used map[string]bool, system bool) *svcEnv {
	t.Helper()
	e := &svcEnv{env: newEnv(t, upperObjs, lowerObjs)}
	e.logger = ktesting.NewLogger(t, ktesting.NewConfig(ktesting.Verbosity(2), ktesting.BufferLogs(true)))
	e.ctx = klog.NewContext(e.ctx, e.logger)
	e.used.Store(used)
	cfg := reflector.Config{Owner: owner, Recorder: e.recorder, Workers: 2}
	var err error
	e.services, err = reflector.NewNamespaced(reflector.Services(e.clusters(), reflector.ServiceOptions{
		Owner: owner, SystemServices: system,
		NamespaceUsed: func(ns string) bool { return e.used.Load().(map[string]bool)[ns] },
	}), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if e.slices, err = reflector.NewNamespaced(reflector.EndpointSlices(e.clusters(), owner.Namespaces), cfg); err != nil {
		t.Fatal(err)
	}
	e.upperF.Start(e.ctx.Done())
	e.lowerF.Start(e.ctx.Done())
	e.upperF.WaitForCacheSync(e.ctx.Done())
	e.lowerF.WaitForCacheSync(e.ctx.Done())
	go e.services.Run(e.ctx)
	go e.slices.Run(e.ctx)
	return e
}

// decide handles the Services among objs now, so that what is absent below afterwards
// was decided, not merely not reached yet by the workers.
func (e *svcEnv) decide(t *testing.T, objs ...runtime.Object) {
	t.Helper()
	for _, o := range objs {
		if s, ok := o.(*corev1.Service); ok {
			if err := e.services.Ensure(e.ctx, s.Namespace, s.Name); err != nil {
				t.Fatalf("Ensure %s/%s: %v", s.Namespace, s.Name, err)
			}
		}
	}
}

func (e *svcEnv) setUsed(used map[string]bool) {
	e.used.Store(used)
	for ns := range used {
		e.services.Requeue(ns, labels.Everything())
	}
	e.services.Requeue("", labels.Everything())
}

func (e *svcEnv) lowerService(ctx context.Context, ns, name string) (*corev1.Service, error) {
	return e.lower.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
}

func upperSvc(ns, name string, mutate ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID("up-" + name)},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, Selector: map[string]string{"app": name},
			ClusterIP: "10.0.0.1", ClusterIPs: []string{"10.0.0.1"},
			Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	for _, m := range mutate {
		m(s)
	}
	return s
}

func upperSlice(ns, name, service string, ips ...string) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID("up-" + name),
			Labels: map[string]string{discoveryv1.LabelServiceName: service, discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}},
	}
	for _, ip := range ips {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip}, NodeName: ptr.To("vk-node")})
	}
	return s
}

func namespace(name string, ann map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: ann}}
}

func waitLowerService(t *testing.T, e *svcEnv, ns, name string, want bool) *corev1.Service {
	t.Helper()
	var got *corev1.Service
	eventually.Check(t, 5*time.Second, "lower service "+ns+"/"+name+map[bool]string{true: " present", false: " absent"}[want], func() (bool, error) {
		s, err := e.lowerService(context.Background(), ns, name)
		if apierrors.IsNotFound(err) {
			return !want, nil
		}
		got = s
		return err == nil && want, nil
	})
	return got
}

// TestServicesFollowNamespaceUse: a Service is reflected (selector removed, cluster IP
// left to the lower cluster) while its namespace runs pods below, and removed after.
func TestServicesFollowNamespaceUse(t *testing.T) {
	e := startServices(t, []runtime.Object{namespace("app", nil), upperSvc("app", "web")}, nil, map[string]bool{}, false)
	e.decide(t, upperSvc("app", "web")) // the decision is made, not merely not yet
	if len(e.lowerWrites()) != 0 {
		t.Fatalf("namespace runs no pods, yet: %v", e.lowerWrites())
	}
	e.setUsed(map[string]bool{"app": true})
	got := waitLowerService(t, e, "app", "web", true)
	if got.Spec.Selector != nil || got.Spec.ClusterIP != "" || got.Annotations[translate.AnnotationUpperSelector] != `{"app":"web"}` || !owner.Owns(got) {
		t.Errorf("lower copy: selector %v, clusterIP %q, annotations %v, labels %v", got.Spec.Selector, got.Spec.ClusterIP, got.Annotations, got.Labels)
	}
	// An update follows.
	up := upperSvc("app", "web", func(s *corev1.Service) { s.Spec.Ports[0].Port = 81 })
	if _, err := e.upper.CoreV1().Services("app").Update(e.ctx, up, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually.Check(t, 5*time.Second, "port update below", func() (bool, error) {
		s, err := e.lowerService(e.ctx, "app", "web")
		return err == nil && s.Spec.Ports[0].Port == 81, nil
	})
	e.setUsed(map[string]bool{})
	waitLowerService(t, e, "app", "web", false)
}

// TestServicesScope: opt-outs (Service or namespace) and system Services.
func TestServicesScope(t *testing.T) {
	off := map[string]string{translate.AnnotationReflect: "false"}
	for _, tc := range []struct {
		name   string
		objs   []runtime.Object
		system bool
		want   []string
	}{
		{name: "opted-out Service", objs: []runtime.Object{namespace("app", nil),
			upperSvc("app", "web"), upperSvc("app", "private", func(s *corev1.Service) { s.Annotations = off })},
			want: []string{"app/web"}},
		{name: "opted-out namespace", objs: []runtime.Object{namespace("app", off), upperSvc("app", "web")}},
		{name: "system Services without the flag: not even default/kubernetes", objs: []runtime.Object{
			upperSvc("default", "kubernetes"), upperSvc("kube-system", "dns"),
			upperSvc("kube-system", "metrics", func(s *corev1.Service) { s.Annotations = map[string]string{translate.AnnotationReflect: "true"} })},
			want: []string{"kube-system/metrics"}},
		{name: "system Services with the flag", system: true, objs: []runtime.Object{
			upperSvc("default", "kubernetes"), upperSvc("kube-system", "dns")},
			want: []string{"default/kubernetes", "kube-system/dns"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startServices(t, tc.objs, nil, map[string]bool{"app": true}, tc.system)
			for _, key := range tc.want {
				ns, name, _ := strings.Cut(key, "/")
				waitLowerService(t, e, ns, name, true)
			}
			e.decide(t, tc.objs...) // every Service had its turn: absence below is a decision
			list, err := e.lower.CoreV1().Services("").List(e.ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range list.Items {
				got = append(got, s.Namespace+"/"+s.Name)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("lower Services (-want +got):\n%s", diff)
			}
		})
	}
}

// TestServicesOptOutRemovesCopy: annotating a reflected Service reflect=false removes
// its copy.
func TestServicesOptOutRemovesCopy(t *testing.T) {
	e := startServices(t, []runtime.Object{namespace("app", nil), upperSvc("app", "web")}, nil, map[string]bool{"app": true}, false)
	waitLowerService(t, e, "app", "web", true)
	up := upperSvc("app", "web", func(s *corev1.Service) { s.Annotations = map[string]string{translate.AnnotationReflect: "false"} })
	if _, err := e.upper.CoreV1().Services("app").Update(e.ctx, up, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitLowerService(t, e, "app", "web", false)
}

// TestServicesForeignUntouched: a lower Service of the same name that is not ours is
// never overwritten; the upper Service gets an event.
func TestServicesForeignUntouched(t *testing.T) {
	foreign := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "app", UID: "foreign-uid", Labels: map[string]string{"mine": "yes"}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"x": "y"}, ClusterIP: "10.96.0.5"}}
	e := startServices(t, []runtime.Object{namespace("app", nil), upperSvc("app", "web")}, []runtime.Object{foreign}, map[string]bool{"app": true}, false)
	eventually.Check(t, 5*time.Second, "ForeignObjectExists event", func() (bool, error) {
		for _, ev := range e.events() {
			if strings.Contains(ev, "ForeignObjectExists") {
				return true, nil
			}
		}
		return false, nil
	})
	got, err := e.lowerService(e.ctx, "app", "web")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(foreign, got); diff != "" {
		t.Errorf("foreign Service changed (-before +after):\n%s", diff)
	}
	for _, w := range e.lowerWrites() {
		if w != "create services" {
			t.Errorf("unexpected lower write %q", w)
		}
	}
}

// TestServicesHeadlessRecreated: a Service that becomes headless (an immutable change)
// is deleted and created again below as headless.
func TestServicesHeadlessRecreated(t *testing.T) {
	e := startServices(t, []runtime.Object{namespace("app", nil), upperSvc("app", "web")}, nil, map[string]bool{"app": true}, false)
	waitLowerService(t, e, "app", "web", true)
	up := upperSvc("app", "web", func(s *corev1.Service) {
		s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
	})
	if _, err := e.upper.CoreV1().Services("app").Update(e.ctx, up, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually.Check(t, 5*time.Second, "headless copy below", func() (bool, error) {
		s, err := e.lowerService(e.ctx, "app", "web")
		return err == nil && s.Spec.ClusterIP == corev1.ClusterIPNone, nil
	})
}

// TestEndpointSlicesOfReflectedServices: slices of reflected Services are copied, owned
// by the lower Service and managed by the virtual node; others are not; changes follow.
func TestEndpointSlicesOfReflectedServices(t *testing.T) {
	e := startServices(t, []runtime.Object{namespace("app", nil), upperSvc("app", "web"),
		upperSvc("app", "private", func(s *corev1.Service) { s.Annotations = map[string]string{translate.AnnotationReflect: "false"} }),
		upperSlice("app", "web-abc", "web", "10.1.0.1", "10.2.0.1"), upperSlice("app", "private-abc", "private", "10.1.0.2"),
	}, nil, map[string]bool{"app": true}, false)
	svc := waitLowerService(t, e, "app", "web", true)
	var got *discoveryv1.EndpointSlice
	eventually.Check(t, 5*time.Second, "lower slice", func() (bool, error) {
		s, err := e.lower.DiscoveryV1().EndpointSlices("app").Get(e.ctx, "web-abc", metav1.GetOptions{})
		got = s
		return err == nil, nil
	})
	if len(got.OwnerReferences) != 1 || got.OwnerReferences[0].UID != svc.UID || got.OwnerReferences[0].Kind != "Service" {
		t.Errorf("owner references %v, want the lower Service %s", got.OwnerReferences, svc.UID)
	}
	if got.Labels[discoveryv1.LabelManagedBy] != translate.ManagedByVirtualNode || got.Labels[discoveryv1.LabelServiceName] != "web" || !owner.Owns(got) {
		t.Errorf("labels %v", got.Labels)
	}
	if len(got.Endpoints) != 2 || got.Endpoints[0].NodeName != nil {
		t.Errorf("endpoints %+v, want both addresses without node names", got.Endpoints)
	}
	up := upperSlice("app", "web-abc", "web", "10.1.0.1", "10.2.0.1", "10.2.0.2")
	if _, err := e.upper.DiscoveryV1().EndpointSlices("app").Update(e.ctx, up, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually.Check(t, 5*time.Second, "third endpoint below", func() (bool, error) {
		s, err := e.lower.DiscoveryV1().EndpointSlices("app").Get(e.ctx, "web-abc", metav1.GetOptions{})
		return err == nil && len(s.Endpoints) == 3, nil
	})
	if _, err := e.lower.DiscoveryV1().EndpointSlices("app").Get(e.ctx, "private-abc", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("slice of an unreflected Service: err = %v, want NotFound", err)
	}
	// The upper Service goes: its copy and the slices go (the fake has no garbage collector).
	if err := e.upper.CoreV1().Services("app").Delete(e.ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitLowerService(t, e, "app", "web", false)
	eventually.Check(t, 5*time.Second, "slice removed", func() (bool, error) {
		_, err := e.lower.DiscoveryV1().EndpointSlices("app").Get(e.ctx, "web-abc", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}

// TestStartupSweep: for every kind, a copy of ours whose upper object is gone when the
// virtual node starts is removed (the owned lower informer's initial list queues it);
// a foreign object is not.
func TestStartupSweep(t *testing.T) {
	l, a := marks("up-gone", nil)
	meta := func() metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: "gone", Namespace: "app", UID: "lower-gone", Labels: l, Annotations: a}
	}
	foreign := metav1.ObjectMeta{Name: "theirs", Namespace: "app", UID: "lower-theirs"}
	for _, kind := range []string{"configmap", "secret", "pvc", "serviceaccount", "service", "endpointslice"} {
		t.Run(kind, func(t *testing.T) {
			var lower []runtime.Object
			switch kind {
			case "configmap":
				lower = []runtime.Object{&corev1.ConfigMap{ObjectMeta: meta()}, &corev1.ConfigMap{ObjectMeta: foreign}}
			case "secret":
				lower = []runtime.Object{&corev1.Secret{ObjectMeta: meta()}, &corev1.Secret{ObjectMeta: foreign}}
			case "pvc":
				lower = []runtime.Object{&corev1.PersistentVolumeClaim{ObjectMeta: meta()}, &corev1.PersistentVolumeClaim{ObjectMeta: foreign}}
			case "serviceaccount":
				lower = []runtime.Object{&corev1.ServiceAccount{ObjectMeta: meta()}, &corev1.ServiceAccount{ObjectMeta: foreign}}
			case "service":
				lower = []runtime.Object{&corev1.Service{ObjectMeta: meta()}, &corev1.Service{ObjectMeta: foreign}}
			case "endpointslice":
				lower = []runtime.Object{&discoveryv1.EndpointSlice{ObjectMeta: meta()}, &discoveryv1.EndpointSlice{ObjectMeta: foreign}}
			}
			var e *env
			if kind == "service" || kind == "endpointslice" {
				e = startServices(t, nil, lower, map[string]bool{"app": true}, false).env
			} else {
				e = newEnv(t, nil, lower)
				e.start(t, kind, true)
			}
			eventually.Check(t, 5*time.Second, "owned orphan deleted", func() (bool, error) {
				d := e.lowerDeletes()
				return len(d) == 1 && d[0].GetName() == "gone", nil
			})
			// Only the object that was read may go, not one re-created in the meantime.
			if p := e.lowerDeletes()[0].DeleteOptions.Preconditions; p == nil || p.UID == nil || *p.UID != "lower-gone" {
				t.Errorf("delete preconditions %+v, want UID lower-gone", p)
			}
		})
	}
}

// TestServicesSkipLoggedOnce: an opted-out Service is logged (V(2)) once, not on every
// resync.
func TestServicesSkipLoggedOnce(t *testing.T) {
	off := map[string]string{translate.AnnotationReflect: "false"}
	e := startServices(t, []runtime.Object{namespace("app", nil), upperSvc("app", "web"),
		upperSvc("app", "private", func(s *corev1.Service) { s.Annotations = off })}, nil, map[string]bool{"app": true}, false)
	waitLowerService(t, e, "app", "web", true)
	for i := 0; i < 5; i++ {
		e.setUsed(map[string]bool{"app": true})
		time.Sleep(20 * time.Millisecond)
	}
	waitLowerService(t, e, "app", "web", true)
	if n := strings.Count(e.logs(), `Not reflecting object kind="service" key="app/private"`); n != 1 {
		t.Errorf("skip of app/private logged %d times, want once:\n%s", n, e.logs())
	}
}

// reflectedGauge reads tensile_reflector_objects{kind}.
func reflectedGauge(t *testing.T, kind string) float64 {
	t.Helper()
	families, err := legacyregistry.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "tensile_reflector_objects" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "kind" && l.GetValue() == kind {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}

// TestReflectedGauge: the gauge of reflected objects follows copies made and removed.
func TestReflectedGauge(t *testing.T) {
	before := reflectedGauge(t, "service")
	e := startServices(t, []runtime.Object{namespace("app", nil), upperSvc("app", "web"), upperSvc("app", "api")}, nil, map[string]bool{"app": true}, false)
	waitLowerService(t, e, "app", "web", true)
	waitLowerService(t, e, "app", "api", true)
	eventually.Check(t, 5*time.Second, "gauge +2", func() (bool, error) { return reflectedGauge(t, "service") == before+2, nil })
	if err := e.upper.CoreV1().Services("app").Delete(e.ctx, "api", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually.Check(t, 5*time.Second, "gauge +1", func() (bool, error) { return reflectedGauge(t, "service") == before+1, nil })
}
