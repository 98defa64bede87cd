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
}

// Objects every lower namespace has of its own, which a pod uses as they are: the
// lower controller-manager creates the default ServiceAccount (the lower admission
// waits for it) and publishes the lower cluster's CA, which is what a lower token is
// checked against.
const (
	defaultServiceAccount = "default"
	rootCAConfigMap       = "kube-root-ca.crt"
)

// PodDependencies lists the ConfigMaps, Secrets, PVCs and ServiceAccount a pod
// references through volumes, projected volumes, env, envFrom, imagePullSecrets and
// serviceAccountName. Optional references are included: if the object exists upstairs
// it must exist downstairs too.
func PodDependencies(pod *corev1.Pod) Dependencies {
	d := Dependencies{ConfigMaps: sets.New[string](), Secrets: sets.New[string](), PVCs: sets.New[string](),
		ServiceAccounts: sets.New[string](pod.Spec.ServiceAccountName)}
	for _, s := range pod.Spec.ImagePullSecrets {
		d.Secrets.Insert(s.Name)
	}
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.ConfigMap != nil:
			d.ConfigMaps.Insert(v.ConfigMap.Name)
		case v.Secret != nil:
			d.Secrets.Insert(v.Secret.SecretName)
		case v.PersistentVolumeClaim != nil:
			d.PVCs.Insert(v.PersistentVolumeClaim.ClaimName)
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil {
					d.ConfigMaps.Insert(s.ConfigMap.Name)
				}
				if s.Secret != nil {
					d.Secrets.Insert(s.Secret.Name)
				}
			}
		}
	}
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			for _, e := range c.EnvFrom {
				if e.ConfigMapRef != nil {
					d.ConfigMaps.Insert(e.ConfigMapRef.Name)
				}
				if e.SecretRef != nil {
					d.Secrets.Insert(e.SecretRef.Name)
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom == nil {
					continue
				}
				if e.ValueFrom.ConfigMapKeyRef != nil {
					d.ConfigMaps.Insert(e.ValueFrom.ConfigMapKeyRef.Name)
				}
				if e.ValueFrom.SecretKeyRef != nil {
					d.Secrets.Insert(e.ValueFrom.SecretKeyRef.Name)
				}
			}
		}
	}
	d.ConfigMaps.Delete("", rootCAConfigMap)
	d.Secrets.Delete("")
	d.PVCs.Delete("")
	d.ServiceAccounts.Delete("", defaultServiceAccount)
	return d
}
