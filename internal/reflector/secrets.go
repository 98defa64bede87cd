package reflector

import (
	"context"
	"fmt"
	"reflect"

	corev1 "k8s.io/api/core/v1"

	"github.com/tensile-kube/tensile/internal/translate"
)

// Secrets reflects Secrets, except upper service-account tokens. With c.UpperSecret
// set, the upper cache holds Secrets without their data (WithoutSecretData): a copy is
// compared through the data's hash (translate.AnnotationDataHash, recorded on the copy),
// and the Secret is read whole from the upper API server only when its copy must be
// written. The copy's own data is hashed too, so a copy changed below is still put back.
func Secrets(c Clusters) PodKind[*corev1.Secret] {
	k := Kind[*corev1.Secret]{
		Name:      "secret",
		Translate: secretToLower,
		Equal: func(cur, want *corev1.Secret) bool {
			return metaEqual(cur, want) && reflect.DeepEqual(cur.Data, want.Data)
		},
		Update: func(cur, want *corev1.Secret) {
			setMeta(cur, want)
			cur.Data = want.Data
		},
	}
	if get := c.UpperSecret; get != nil {
		k.Equal = func(cur, want *corev1.Secret) bool {
			return metaEqual(cur, want) && translate.SecretDataHash(cur.Data) == want.Annotations[translate.AnnotationDataHash]
		}
		k.Complete = func(ctx context.Context, upper *corev1.Secret, o translate.Owner) (*corev1.Secret, error) {
			live, err := get(ctx, upper.Namespace, upper.Name)
			if err != nil {
				return nil, err
			}
			live = live.DeepCopy() // a getter may hand out a shared object
			stampDataHash(live)
			desired, skip := secretToLower(live, o)
			if skip != "" {
				return nil, fmt.Errorf("not reflected: %s", skip)
			}
			return desired, nil
		}
	}
	return PodKind[*corev1.Secret]{Kind: informedKind(corev1.Resource("secrets"),
		c.Upper.Core().V1().Secrets().Informer(), c.LowerOwned.Core().V1().Secrets().Informer(), c.Lower.CoreV1().Secrets, k)}
}

func secretToLower(u *corev1.Secret, o translate.Owner) (*corev1.Secret, string) {
	if translate.IsUpperCredential(u) {
		return nil, "upper service-account token"
	}
	return translate.SecretToLower(u, o), ""
}

// WithoutSecretData is the informer transform of upper Secrets when the reflector reads
// them whole on demand (Clusters.UpperSecret): it drops the data, and records its hash
// (translate.AnnotationDataHash, overwriting any value the Secret carried) for the
// comparison with the lower copy. The virtual node then keeps no Secret's data in memory
// but its lower copies' (the Secrets its pods use). Objects that are not Secrets are
// returned as they are.
//
// It is not idempotent (a second pass would hash the empty data): client-go's informers
// transform each object they receive exactly once.
func WithoutSecretData(obj any) (any, error) {
	if s, ok := obj.(*corev1.Secret); ok {
		stampDataHash(s)
		s.Data, s.StringData = nil, nil
	}
	return obj, nil
}

// stampDataHash records the hash of s's data on s.
func stampDataHash(s *corev1.Secret) {
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	s.Annotations[translate.AnnotationDataHash] = translate.SecretDataHash(s.Data)
}
