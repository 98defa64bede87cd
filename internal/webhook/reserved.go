package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/tensile-kube/tensile/pkg/constraints"
	"github.com/tensile-kube/tensile/pkg/vnodeident"
)

// ReservedPrefix starts every annotation key of this project. On a pod, such
// annotations tell our components what to do, so a pod's author may set only the few
// meant for them (UserAnnotations).
const ReservedPrefix = "tensile.dev/"

// SealAnnotation carries, next to constraints.Annotation, a MAC the webhook computed
// over the saved constraints. A pod that arrives with both, the seal valid, carries
// constraints this webhook saved itself: a re-invocation of the same admission (the
// request does not say it is one), or a copy of an admitted pod.
const SealAnnotation = "tensile.dev/lower-constraints-seal"

// UserAnnotations are the tensile.dev annotation keys a pod's author may set: the
// documented opt-ins. Every other tensile.dev annotation on a pod is written by our
// components only.
var UserAnnotations = []string{vnodeident.AnnotationDaemonSetPods}

// DefaultTrustedUsers returns the users whose pods keep the tensile.dev annotations they
// were created with: the descheduler's ServiceAccount in manifests/descheduler, whose
// replacements of bare pods copy the constraints the webhook saved on the original.
// Each call returns a new slice.
func DefaultTrustedUsers() []string {
	return []string{"system:serviceaccount:kube-system:tensile-descheduler"}
}

// Sealer computes and checks SealAnnotation values with a key of its own.
type Sealer struct {
	key []byte
}

// NewSealer returns a Sealer with a key derived from secret, or a random key when
// secret is empty. Replicas that must accept each other's seals need the same secret.
func NewSealer(secret []byte) *Sealer {
	if len(secret) == 0 {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret) // never fails (crypto/rand, Go 1.24+)
	}
	sum := sha256.Sum256(append([]byte("tensile.dev lower-constraints seal\x00"), secret...))
	return &Sealer{key: sum[:]}
}

// Seal returns the seal of constraints value, saved on a pod of namespace.
func (s *Sealer) Seal(namespace, value string) string {
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(namespace))
	mac.Write([]byte{0})
	mac.Write([]byte(value))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// valid reports whether seal is the seal of value in namespace.
func (s *Sealer) valid(namespace, value, seal string) bool {
	return s != nil && hmac.Equal([]byte(s.Seal(namespace, value)), []byte(seal))
}

// DropReserved returns a copy of pod without the tensile.dev annotations its author
// may not set, and the keys it dropped, sorted. Kept are UserAnnotations, and the
// saved constraints with their seal when sealer finds the seal valid (this webhook
// saved them). pod is not modified.
func DropReserved(pod *corev1.Pod, sealer *Sealer) (*corev1.Pod, []string) {
	sealed := sealer.valid(pod.Namespace, pod.Annotations[constraints.Annotation], pod.Annotations[SealAnnotation])
	var dropped []string
	for k := range pod.Annotations {
		switch {
		case !strings.HasPrefix(k, ReservedPrefix), slices.Contains(UserAnnotations, k):
		case sealed && (k == constraints.Annotation || k == SealAnnotation):
		default:
			dropped = append(dropped, k)
		}
	}
	if len(dropped) == 0 {
		return pod, nil
	}
	out := pod.DeepCopy()
	out.Annotations = maps.Clone(pod.Annotations)
	for _, k := range dropped {
		delete(out.Annotations, k)
	}
	slices.Sort(dropped)
	return out, dropped
}

// sealConstraints sets SealAnnotation on pod to the seal of its saved constraints,
// if it has any.
func sealConstraints(pod *corev1.Pod, sealer *Sealer) {
	value, ok := pod.Annotations[constraints.Annotation]
	if !ok || sealer == nil {
		return
	}
	pod.Annotations[SealAnnotation] = sealer.Seal(pod.Namespace, value)
}
