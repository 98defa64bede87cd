package reflector_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

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

// secretsWithoutData starts the Secrets reflector as the virtual node wires it: the
// upper cache keeps no data (WithoutSecretData), and whole Secrets are read through a
// getter that counts its calls.
func secretsWithoutData(t *testing.T, e *env) (*reflector.Reflector[*corev1.Secret], *atomic.Int32) {
	t.Helper()
	e.upperF = informers.NewSharedInformerFactoryWithOptions(e.upper, 0, informers.WithTransform(reflector.WithoutSecretData))
	var gets atomic.Int32
	c := e.clusters()
	c.UpperSecret = func(ctx context.Context, ns, name string) (*corev1.Secret, error) {
		gets.Add(1)
		return e.upper.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	}
	r, err := reflector.New(reflector.Secrets(c), reflector.Config{Owner: e.owner, Recorder: e.recorder, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []informers.SharedInformerFactory{e.upperF, e.lowerF} {
		f.Start(e.ctx.Done())
		for typ, ok := range f.WaitForCacheSync(e.ctx.Done()) {
			if !ok {
				t.Fatalf("%v informer did not sync", typ)
			}
		}
	}
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return r, &gets
}

func getSecret(e *env, name string) (*corev1.Secret, error) {
	return e.lower.CoreV1().Secrets("app").Get(context.Background(), name, metav1.GetOptions{})
}

// TestSecretsWithoutData: the upper cache holds no Secret data, yet copies are written
// whole, follow upper changes, are put back when changed below, and an unchanged Secret
// costs no upper read.
func TestSecretsWithoutData(t *testing.T) {
	token := upperSecret("token", corev1.SecretTypeServiceAccountToken)
	e := newEnv(t, []runtime.Object{upperSecret("creds", corev1.SecretTypeOpaque), token}, nil)
	r, gets := secretsWithoutData(t, e)

	cached, exists, err := e.upperF.Core().V1().Secrets().Informer().GetIndexer().GetByKey("app/creds")
	if err != nil || !exists {
		t.Fatalf("upper cache: %v %v", exists, err)
	}
	hash := translate.SecretDataHash(map[string][]byte{"USER_NAME": []byte("admin")})
	if s := cached.(*corev1.Secret); s.Data != nil || s.Annotations[translate.AnnotationDataHash] != hash {
		t.Fatalf("cached upper Secret: data %v, hash %q; want no data and hash %q", s.Data, s.Annotations[translate.AnnotationDataHash], hash)
	}

	r.Track(pod, sets.New("creds", "token"))
	if err := r.Ensure(e.ctx, "app", "creds"); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	low, err := getSecret(e, "creds")
	if err != nil {
		t.Fatalf("lower copy: %v", err)
	}
	if string(low.Data["USER_NAME"]) != "admin" || low.Annotations[translate.AnnotationDataHash] != hash || !owner.Owns(low) {
		t.Fatalf("lower copy: data %q, annotations %v, labels %v", low.Data, low.Annotations, low.Labels)
	}
	if n := gets.Load(); n < 1 {
		t.Errorf("upper reads for the first copy: %d, want at least 1", n)
	}
	// Nothing changed: no upper read, no lower write. The workers (Track queued the
	// Secret) may have raced this test's Ensure to the first copy: wait until the lower
	// cache shows the copy and the counts stand still, then count from there.
	var reads int32
	var writes int
	eventually.Check(t, 5*time.Second, "the lower cache to show the copy, and no more reads or writes", func() (bool, error) {
		_, err := e.lowerF.Core().V1().Secrets().Lister().Secrets("app").Get("creds")
		r0, w0 := gets.Load(), len(e.lowerWrites())
		time.Sleep(200 * time.Millisecond)
		reads, writes = gets.Load(), len(e.lowerWrites())
		return err == nil && reads == r0 && writes == w0, nil
	})
	if err := r.Ensure(e.ctx, "app", "creds"); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	if n, w := gets.Load(), len(e.lowerWrites()); n != reads || w != writes {
		t.Errorf("Ensure of an unchanged Secret: %d more upper reads (want 0), lower writes %v", n-reads, e.lowerWrites())
	}
	// Service-account tokens still never go down.
	if err := r.Ensure(e.ctx, "app", "token"); err != nil {
		t.Fatalf("Ensure token: %v", err)
	}
	if _, err := getSecret(e, "token"); !apierrors.IsNotFound(err) {
		t.Errorf("service-account token copied below: %v", err)
	}

	// An upper change reaches the copy.
	up := upperSecret("creds", corev1.SecretTypeOpaque)
	up.Data["USER_NAME"] = []byte("root")
	if _, err := e.upper.CoreV1().Secrets("app").Update(context.Background(), up, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually.Check(t, 5*time.Second, "the upper change to reach the lower copy", func() (bool, error) {
		s, err := getSecret(e, "creds")
		return err == nil && string(s.Data["USER_NAME"]) == "root" &&
			s.Annotations[translate.AnnotationDataHash] == translate.SecretDataHash(s.Data), nil
	})

	// A copy changed below is put back.
	low, err = getSecret(e, "creds")
	if err != nil {
		t.Fatal(err)
	}
	low.Data["USER_NAME"] = []byte("tampered")
	if _, err := e.lower.CoreV1().Secrets("app").Update(context.Background(), low, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually.Check(t, 5*time.Second, "the changed copy to be put back", func() (bool, error) {
		s, err := getSecret(e, "creds")
		return err == nil && string(s.Data["USER_NAME"]) == "root", nil
	})
}

// TestWithoutSecretData: the transform drops the data, overwrites a hash the Secret
// carried, and leaves other objects alone.
func TestWithoutSecretData(t *testing.T) {
	s := upperSecret("creds", corev1.SecretTypeOpaque)
	s.Annotations = map[string]string{translate.AnnotationDataHash: "forged", "keep": "me"}
	s.StringData = map[string]string{"x": "y"}
	if _, err := reflector.WithoutSecretData(s); err != nil {
		t.Fatal(err)
	}
	want := translate.SecretDataHash(map[string][]byte{"USER_NAME": []byte("admin")})
	if s.Data != nil || s.StringData != nil || s.Annotations[translate.AnnotationDataHash] != want || s.Annotations["keep"] != "me" {
		t.Errorf("transformed Secret: data %v, stringData %v, annotations %v", s.Data, s.StringData, s.Annotations)
	}
	cm := upperCM("cfg", "v1")
	if out, err := reflector.WithoutSecretData(cm); err != nil || out.(*corev1.ConfigMap).Data["username"] != "v1" {
		t.Errorf("ConfigMap changed: %v %v", out, err)
	}
}
