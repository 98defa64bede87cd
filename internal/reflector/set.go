package reflector

import (
	"context"
	"errors"
	"fmt"

	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corev1listers "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/record"

	"github.com/tensile-kube/tensile/internal/translate"
)

// Dependency is what a pod asks of the reflector of one kind it uses: record its uses,
// make one object current below now, forget its uses, and tell whether an object
// exists above and whether a foreign one of its name is below.
type Dependency interface {
	KindName() string
	Track(pod types.NamespacedName, names sets.Set[string])
	Ensure(ctx context.Context, namespace, name string) error
	Release(pod types.NamespacedName)
	Tracked() []types.NamespacedName
	UpperExists(namespace, name string) (bool, error)
	LowerForeign(ctx context.Context, upperNamespace, name string) (bool, error)
}

var (
	_ Dependency = (*Reflector[*corev1.ConfigMap])(nil)
	_ Dependency = (*Reflector[*corev1.Secret])(nil)
	_ Dependency = (*Reflector[*corev1.PersistentVolumeClaim])(nil)
	_ Dependency = (*Reflector[*corev1.ServiceAccount])(nil)
)

// Dependencies are the reflectors of the objects pods use, one per kind of
// translate.Dependencies (a test checks that they stay in step).
type Dependencies struct {
	ConfigMaps      *Reflector[*corev1.ConfigMap]
	Secrets         *Reflector[*corev1.Secret]
	PVCs            *Reflector[*corev1.PersistentVolumeClaim]
	ServiceAccounts *Reflector[*corev1.ServiceAccount]
}

// Use is the reflector of one kind and the names of that kind a pod uses.
type Use struct {
	Dependency Dependency
	Names      sets.Set[string]
}

// Uses pairs each reflector with the names of its kind in d, in a fixed order.
func (s *Dependencies) Uses(d translate.Dependencies) []Use {
	return []Use{
		{s.ConfigMaps, d.ConfigMaps},
		{s.Secrets, d.Secrets},
		{s.PVCs, d.PVCs},
		{s.ServiceAccounts, d.ServiceAccounts},
	}
}

// All returns every reflector of the objects pods use.
func (s *Dependencies) All() []Dependency {
	uses := s.Uses(translate.Dependencies{})
	out := make([]Dependency, len(uses))
	for i, u := range uses {
		out[i] = u.Dependency
	}
	return out
}

// SetConfig configures the reflectors of a virtual node.
type SetConfig struct {
	// Owner identifies the virtual node; everything created below carries its marks.
	Owner translate.Owner
	// Recorder records events on upper objects.
	Recorder record.EventRecorder
	// Upper serves the upper objects (all namespaces).
	Upper informers.SharedInformerFactory
	// LowerOwned serves the lower objects this node created (label-selected).
	LowerOwned informers.SharedInformerFactory
	// LowerAll serves every lower pod and the lower namespaces.
	LowerAll informers.SharedInformerFactory
	// Lower is a client of the lower cluster.
	Lower kubernetes.Interface
	// SystemServices reflects default/kubernetes and the kube-system Services too.
	SystemServices bool
	// UpperSecret, optional, reads one upper Secret whole: see Clusters.UpperSecret.
	UpperSecret func(ctx context.Context, namespace, name string) (*corev1.Secret, error)
}

// Set is every reflector of a virtual node: those of the objects its pods use
// (Dependencies) and the namespace-driven ones (Services and their EndpointSlices). Each
// registered its own handlers when NewSet built it.
type Set struct {
	Dependencies
	Services       *Namespaced[*corev1.Service]
	EndpointSlices *Namespaced[*discoveryv1.EndpointSlice]

	owner      translate.Owner
	lower      kubernetes.Interface
	namespaces corev1listers.NamespaceLister
}

// NewSet builds the reflectors and registers their handlers on the informers of cfg;
// start the informers after NewSet.
func NewSet(cfg SetConfig) (*Set, error) {
	if cfg.Upper == nil || cfg.LowerOwned == nil || cfg.LowerAll == nil || cfg.Lower == nil {
		return nil, errors.New("reflector: upper, lower-owned and lower informer factories and a lower client are required")
	}
	s := &Set{owner: cfg.Owner, lower: cfg.Lower, namespaces: cfg.LowerAll.Core().V1().Namespaces().Lister()}
	c := Clusters{Upper: cfg.Upper, LowerOwned: cfg.LowerOwned, Lower: cfg.Lower, LowerAll: cfg.LowerAll, UpperSecret: cfg.UpperSecret}
	rc := Config{Owner: cfg.Owner, Recorder: cfg.Recorder, EnsureNamespace: s.EnsureNamespace}
	var err error
	if s.ConfigMaps, err = New(ConfigMaps(c), rc); err != nil {
		return nil, err
	}
	if s.Secrets, err = New(Secrets(c), rc); err != nil {
		return nil, err
	}
	if s.PVCs, err = New(PVCs(c), rc); err != nil {
		return nil, err
	}
	if s.ServiceAccounts, err = New(ServiceAccounts(c), rc); err != nil {
		return nil, err
	}
	svc := Services(c, ServiceOptions{Owner: cfg.Owner, SystemServices: cfg.SystemServices})
	if s.Services, err = NewNamespaced(svc, rc); err != nil {
		return nil, err
	}
	if s.EndpointSlices, err = NewNamespaced(EndpointSlices(c, cfg.Owner.Namespaces), rc); err != nil {
		return nil, err
	}
	return s, nil
}

// Run runs every reflector until ctx ends. Callers that track pod uses (the provider)
// record what existing pods use first: each reflector's start-up sweep removes the
// copies nobody uses.
func (s *Set) Run(ctx context.Context) {
	for _, run := range []func(context.Context){s.ConfigMaps.Run, s.Secrets.Run, s.PVCs.Run, s.ServiceAccounts.Run,
		s.Services.Run, s.EndpointSlices.Run} {
		go run(ctx)
	}
	<-ctx.Done()
}

// EnsureNamespace creates the lower namespace of an upper one when it is missing. One
// that exists is used whoever made it: with the same name below, it is usually the
// lower cluster's own.
func (s *Set) EnsureNamespace(ctx context.Context, upperNS string) error {
	m := s.owner.Namespaces
	if _, err := s.namespaces.Get(m.ToLower(upperNS)); err == nil {
		return nil
	}
	if err := m.CheckLower(upperNS); err != nil {
		return errdefs.AsInvalidInput(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: m.ToLower(upperNS), Labels: s.owner.Labels()}}
	if !m.Identity() {
		ns.Annotations = map[string]string{translate.AnnotationUpperNamespace: upperNS}
	}
	_, err := s.lower.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating lower namespace %s: %w", ns.Name, err)
	}
	return nil
}
