package reflector_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/informers"

	"github.com/tensile-kube/tensile/internal/eventually"
	"github.com/tensile-kube/tensile/internal/reflector"
	"github.com/tensile-kube/tensile/internal/translate"
)

// newSet builds every reflector on e's informers (plus an unfiltered lower factory, as
// internal/virtualnode wires them), starts the informers and runs the reflectors.
func newSet(t *testing.T, e *env) *reflector.Set {
	t.Helper()
	all := informers.NewSharedInformerFactory(e.lower, 0)
	s, err := reflector.NewSet(reflector.SetConfig{Owner: e.owner, Recorder: e.recorder,
		Upper: e.upperF, LowerOwned: e.lowerF, LowerAll: all, Lower: e.lower})
	if err != nil {
		t.Fatalf("NewSet: %v", err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	all.Start(ctx.Done())
	for _, f := range []informers.SharedInformerFactory{e.upperF, e.lowerF} {
		f.Start(e.ctx.Done())
	}
	for _, f := range []informers.SharedInformerFactory{e.upperF, e.lowerF, all} {
		f.WaitForCacheSync(e.ctx.Done())
	}
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; all.Shutdown() })
	return s
}

// TestDependenciesMirrorTranslate: reflector.Dependencies has one reflector for each
// kind of translate.Dependencies, and Uses hands each reflector the names of its own
// kind, so a kind added to translate.Dependencies cannot go unreflected silently.
func TestDependenciesMirrorTranslate(t *testing.T) {
	var kinds []string
	deps := reflect.ValueOf(&translate.Dependencies{}).Elem()
	for i := range deps.NumField() {
		if name := deps.Type().Field(i).Name; !strings.HasPrefix(name, "Optional") {
			kinds = append(kinds, name)
			// Each kind's names are its field's name, to tell them apart below.
			deps.Field(i).Set(reflect.ValueOf(sets.New(name)))
		}
	}
	var fields []string
	rt := reflect.TypeOf(reflector.Dependencies{})
	for i := range rt.NumField() {
		fields = append(fields, rt.Field(i).Name)
	}
	if diff := cmp.Diff(kinds, fields); diff != "" {
		t.Fatalf("reflector.Dependencies fields differ from translate.Dependencies kinds (-translate +reflector):\n%s", diff)
	}

	s := newSet(t, newEnv(t, nil, nil))
	set := reflect.ValueOf(&s.Dependencies).Elem()
	uses := s.Uses(deps.Interface().(translate.Dependencies))
	if len(uses) != len(kinds) {
		t.Fatalf("Uses returned %d uses, want %d", len(uses), len(kinds))
	}
	for _, u := range uses {
		names := sets.List(u.Names)
		if len(names) != 1 {
			t.Fatalf("a use has names %v, want one kind's", names)
		}
		if got := set.FieldByName(names[0]).Interface(); got != u.Dependency {
			t.Errorf("the names of %s go to the %s reflector", names[0], u.Dependency.KindName())
		}
	}
	if got := s.All(); len(got) != len(kinds) {
		t.Errorf("All returned %d reflectors, want %d", len(got), len(kinds))
	}
}

// TestSetServicesFollowLowerPods: a namespace's Service goes below when the first pod
// of ours starts there and leaves with the last one, with no wiring but NewSet's.
func TestSetServicesFollowLowerPods(t *testing.T) {
	e := newEnv(t, []runtime.Object{upperSvc("app", "web")}, nil)
	newSet(t, e)
	lowerSvc := func() (bool, error) {
		_, err := e.lower.CoreV1().Services("app").Get(e.ctx, "web", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	}
	if ok, err := lowerSvc(); ok || err != nil {
		t.Fatalf("lower Service before any pod: %v, %v; want none", ok, err)
	}
	l, a := marks("up-pod", nil)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "app", Labels: l, Annotations: a}}
	if _, err := e.lower.CoreV1().Pods("app").Create(e.ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually.Check(t, 5*time.Second, "the Service to be reflected once a pod of ours runs below", lowerSvc)
	if err := e.lower.CoreV1().Pods("app").Delete(e.ctx, "p", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually.Check(t, 5*time.Second, "the Service copy to go with the last pod", func() (bool, error) {
		ok, err := lowerSvc()
		return !ok, err
	})
}

func TestNewSetValidates(t *testing.T) {
	e := newEnv(t, nil, nil)
	for name, cfg := range map[string]reflector.SetConfig{
		"no upper":       {Owner: owner, LowerOwned: e.lowerF, LowerAll: e.lowerF, Lower: e.lower},
		"no lower owned": {Owner: owner, Upper: e.upperF, LowerAll: e.lowerF, Lower: e.lower},
		"no lower all":   {Owner: owner, Upper: e.upperF, LowerOwned: e.lowerF, Lower: e.lower},
		"no lower":       {Owner: owner, Upper: e.upperF, LowerOwned: e.lowerF, LowerAll: e.lowerF},
		"no owner":       {Upper: e.upperF, LowerOwned: e.lowerF, LowerAll: e.lowerF, Lower: e.lower},
	} {
		if _, err := reflector.NewSet(cfg); err == nil {
			t.Errorf("%s: NewSet succeeded, want an error", name)
		}
	}
}
