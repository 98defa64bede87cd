package translate

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

// Dependencies are the namespaced objects a pod needs in its namespace before it can run.
type Dependencies struct {
	ConfigMaps      sets.Set[string]
	Secrets         sets.Set[string]
	PVCs            sets.Set[string]
	ServiceAccounts sets.Set[string]

	// OptionalConfigMaps and OptionalSecrets are the names in ConfigMaps and Secrets that
	// the pod can start without, as a kubelet decides: every reference to the name is
	// marked optional (imagePullSecrets always are: a kubelet pulls without a missing
	// one). PVCs and ServiceAccounts are always required.
	OptionalConfigMaps sets.Set[string]
	OptionalSecrets    sets.Set[string]
}

// Objects every lower namespace has of its own, which a pod uses as they are: the
// lower controller-manager creates the default ServiceAccount (the lower admission
// waits for it) and publishes the lower cluster's CA, which is what a lower token is
// checked against.
const (
	defaultServiceAccount = "default"
	rootCAConfigMap       = "kube-root-ca.crt"
)

// refs collects the names of one kind and those referenced at least once as required.
type refs struct{ all, required sets.Set[string] }

func newRefs() refs { return refs{all: sets.New[string](), required: sets.New[string]()} }

func (r refs) add(name string, optional *bool) {
	r.all.Insert(name)
	if optional == nil || !*optional {
		r.required.Insert(name)
	}
}

// optional returns the names never referenced as required.
func (r refs) optional() sets.Set[string] { return r.all.Difference(r.required) }

// PodDependencies lists the ConfigMaps, Secrets, PVCs and ServiceAccount a pod
// references through volumes, projected volumes, env, envFrom, imagePullSecrets and
// serviceAccountName (init containers and containers; translation clears ephemeral
// ones). Optional references are included: if the object exists upstairs it must
// exist downstairs too; OptionalConfigMaps and OptionalSecrets say which they are.
func PodDependencies(pod *corev1.Pod) Dependencies {
	optional := true
	cms, secs := newRefs(), newRefs()
	d := Dependencies{PVCs: sets.New[string](), ServiceAccounts: sets.New[string](pod.Spec.ServiceAccountName)}
	for _, s := range pod.Spec.ImagePullSecrets {
		secs.add(s.Name, &optional)
	}
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.ConfigMap != nil:
			cms.add(v.ConfigMap.Name, v.ConfigMap.Optional)
		case v.Secret != nil:
			secs.add(v.Secret.SecretName, v.Secret.Optional)
		case v.PersistentVolumeClaim != nil:
			d.PVCs.Insert(v.PersistentVolumeClaim.ClaimName)
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil {
					cms.add(s.ConfigMap.Name, s.ConfigMap.Optional)
				}
				if s.Secret != nil {
					secs.add(s.Secret.Name, s.Secret.Optional)
				}
			}
		}
	}
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			for _, e := range c.EnvFrom {
				if e.ConfigMapRef != nil {
					cms.add(e.ConfigMapRef.Name, e.ConfigMapRef.Optional)
				}
				if e.SecretRef != nil {
					secs.add(e.SecretRef.Name, e.SecretRef.Optional)
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom == nil {
					continue
				}
				if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
					cms.add(r.Name, r.Optional)
				}
				if r := e.ValueFrom.SecretKeyRef; r != nil {
					secs.add(r.Name, r.Optional)
				}
			}
		}
	}
	d.ConfigMaps, d.OptionalConfigMaps = cms.all, cms.optional()
	d.Secrets, d.OptionalSecrets = secs.all, secs.optional()
	d.ConfigMaps.Delete("", rootCAConfigMap)
	d.OptionalConfigMaps.Delete("", rootCAConfigMap)
	d.Secrets.Delete("")
	d.OptionalSecrets.Delete("")
	d.PVCs.Delete("")
	d.ServiceAccounts.Delete("", defaultServiceAccount)
	return d
}
