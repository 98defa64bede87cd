package reflector_test

import (
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clienttesting "k8s.io/client-go/testing"

	"github.com/tensile-kube/tensile/internal/reflector"
	"github.com/tensile-kube/tensile/internal/translate"
)

// existence is what the provider asks of a reflector before it creates a pod.
type existence interface {
	UpperExists(namespace, name string) (bool, error)
	LowerForeign(ctx context.Context, upperNamespace, name string) (bool, error)
}

var (
	_ existence = (*reflector.Reflector[*corev1.ConfigMap])(nil)
	_ existence = (*reflector.Reflector[*corev1.Secret])(nil)
	_ existence = (*reflector.Reflector[*corev1.PersistentVolumeClaim])(nil)
	_ existence = (*reflector.Reflector[*corev1.ServiceAccount])(nil)
)

func TestUpperExists(t *testing.T) {
	for _, tc := range []struct {
		kind  string
		upper []runtime.Object
	}{
		{"configmap", []runtime.Object{upperCM("cfg", "v1")}},
		{"secret", []runtime.Object{upperSecret("cfg", corev1.SecretTypeOpaque)}},
		// Not copied below, yet it exists: whether it is reflected is Ensure's business.
		{"secret", []runtime.Object{upperSecret("cfg", corev1.SecretTypeServiceAccountToken)}},
		{"pvc", []runtime.Object{upperPVC("cfg")}},
		{"serviceaccount", []runtime.Object{upperSA("cfg")}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			// A same-named lower object and an upper one in another namespace do not count.
			other := upperCM("missing", "v1")
			other.Namespace = "elsewhere"
			e := newEnv(t, append(tc.upper, other), []runtime.Object{foreignCM("missing", nil)})
			r := e.start(t, tc.kind, false).(existence)
			for name, want := range map[string]bool{"cfg": true, "missing": false} {
				got, err := r.UpperExists("app", name)
				if err != nil || got != want {
					t.Errorf("UpperExists(app, %s) = %v, %v; want %v, nil", name, got, err, want)
				}
			}
		})
	}
}

func TestLowerForeign(t *testing.T) {
	mapped := owner
	var err error
	if mapped.Namespaces, err = translate.ParseNamespaceMap("{namespace}-{cluster}", owner); err != nil {
		t.Fatal(err)
	}
	inNS := func(ns string, cm *corev1.ConfigMap) *corev1.ConfigMap { cm.Namespace = ns; return cm }
	underMap := func(o translate.Owner, cm *corev1.ConfigMap) *corev1.ConfigMap {
		cm.Annotations[translate.AnnotationNamespaceMap] = o.Namespaces.String()
		return cm
	}
	otherNode := map[string]string{translate.LabelVirtualNode: "vk-other", translate.LabelUpperCluster: owner.UpperCluster}
	for _, tc := range []struct {
		name  string
		owner translate.Owner
		lower []runtime.Object
		want  bool
	}{
		{name: "nothing below", owner: owner},
		{name: "our copy", owner: owner, lower: []runtime.Object{ourCM("cfg", "v1")}},
		{name: "the lower cluster's own", owner: owner, lower: []runtime.Object{foreignCM("cfg", nil)}, want: true},
		{name: "another virtual node's copy", owner: owner, lower: []runtime.Object{foreignCM("cfg", otherNode)}, want: true},
		{name: "another name", owner: owner, lower: []runtime.Object{foreignCM("other", nil)}},
		{name: "mapped: foreign in the lower namespace", owner: mapped,
			lower: []runtime.Object{inNS("app-upper-1", foreignCM("cfg", nil))}, want: true},
		{name: "mapped: foreign only in the unmapped namespace", owner: mapped,
			lower: []runtime.Object{foreignCM("cfg", nil)}},
		{name: "mapped: our copy", owner: mapped, lower: []runtime.Object{underMap(mapped, inNS("app-upper-1", ourCM("cfg", "v1")))}},
		{name: "mapped: our copy made under another map", owner: mapped,
			lower: []runtime.Object{inNS("app-upper-1", ourCM("cfg", "v1"))}, want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, []runtime.Object{upperCM("cfg", "v1")}, tc.lower)
			e.owner = tc.owner
			r := e.start(t, "configmap", false).(existence)
			got, err := r.LowerForeign(e.ctx, "app", "cfg")
			if err != nil || got != tc.want {
				t.Errorf("LowerForeign(app, cfg) = %v, %v; want %v, nil", got, err, tc.want)
			}
		})
	}

	t.Run("read live, not from the owned cache", func(t *testing.T) {
		e := newEnv(t, nil, nil)
		r := e.start(t, "secret", false).(existence)
		if _, err := e.lower.CoreV1().Secrets("app").Create(e.ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "app"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if got, err := r.LowerForeign(e.ctx, "app", "creds"); err != nil || !got {
			t.Errorf("LowerForeign(app, creds) = %v, %v; want true, nil", got, err)
		}
	})

	t.Run("a read error is returned", func(t *testing.T) {
		e := newEnv(t, nil, nil)
		r := e.start(t, "secret", false).(existence)
		e.lower.PrependReactor("get", "secrets", func(clienttesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "creds", errors.New("denied"))
		})
		if got, err := r.LowerForeign(e.ctx, "app", "creds"); !apierrors.IsForbidden(err) || got {
			t.Errorf("LowerForeign(app, creds) = %v, %v; want false, Forbidden", got, err)
		}
	})
}
