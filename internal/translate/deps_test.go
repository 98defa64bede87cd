package translate_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/ptr"

	"github.com/tensile-kube/tensile/internal/translate"
)

// deps is Dependencies as sorted lists, for readable diffs.
type deps struct {
	ConfigMaps, Secrets, PVCs []string
	ServiceAccounts           []string // nil when none
	// nil when none
	OptionalConfigMaps, OptionalSecrets []string
}

func listDeps(d translate.Dependencies) deps {
	out := deps{ConfigMaps: sets.List(d.ConfigMaps), Secrets: sets.List(d.Secrets), PVCs: sets.List(d.PVCs)}
	orNil := func(s sets.Set[string]) []string {
		if s.Len() == 0 {
			return nil
		}
		return sets.List(s)
	}
	out.ServiceAccounts = orNil(d.ServiceAccounts)
	out.OptionalConfigMaps, out.OptionalSecrets = orNil(d.OptionalConfigMaps), orNil(d.OptionalSecrets)
	return out
}

func cmRef(name string) corev1.LocalObjectReference { return corev1.LocalObjectReference{Name: name} }

func TestPodDependencies(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec corev1.PodSpec
		want deps
	}{
		{
			name: "no references",
			spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}},
			want: deps{ConfigMaps: []string{}, Secrets: []string{}, PVCs: []string{}},
		},
		{
			name: "volumes",
			spec: corev1.PodSpec{Volumes: []corev1.Volume{
				{Name: "a", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: cmRef("cm-vol")}}},
				{Name: "b", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sec-vol", Optional: ptr.To(true)}}},
				{Name: "c", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
				{Name: "d", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			}},
			want: deps{ConfigMaps: []string{"cm-vol"}, Secrets: []string{"sec-vol"}, PVCs: []string{"data"},
				OptionalSecrets: []string{"sec-vol"}},
		},
		{
			name: "projected sources",
			spec: corev1.PodSpec{Volumes: []corev1.Volume{{Name: "p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{
					{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: cmRef("cm-proj")}},
					{Secret: &corev1.SecretProjection{LocalObjectReference: cmRef("sec-proj")}},
					{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
					{DownwardAPI: &corev1.DownwardAPIProjection{}},
				},
			}}}}},
			want: deps{ConfigMaps: []string{"cm-proj"}, Secrets: []string{"sec-proj"}, PVCs: []string{}},
		},
		{
			name: "env, envFrom and image pull secrets, in containers and init containers",
			spec: corev1.PodSpec{
				ImagePullSecrets: []corev1.LocalObjectReference{cmRef("registry")},
				InitContainers: []corev1.Container{{
					Name:    "init",
					EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: cmRef("init-sec")}}},
					Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{
						ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: cmRef("init-cm"), Key: "x"},
					}}},
				}},
				Containers: []corev1.Container{{
					Name: "main",
					EnvFrom: []corev1.EnvFromSource{
						{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: cmRef("env-from-cm")}},
						{Prefix: "S_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: cmRef("env-from-sec")}},
					},
					Env: []corev1.EnvVar{
						{Name: "PLAIN", Value: "v"},
						{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
						{Name: "A", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: cmRef("key-cm"), Key: "a"}}},
						{Name: "B", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: cmRef("key-sec"), Key: "b"}}},
					},
				}},
			},
			want: deps{
				ConfigMaps: []string{"env-from-cm", "init-cm", "key-cm"},
				Secrets:    []string{"env-from-sec", "init-sec", "key-sec", "registry"},
				PVCs:       []string{},
				// A kubelet pulls without a missing image pull secret.
				OptionalSecrets: []string{"registry"},
			},
		},
		{
			name: "a service account other than default",
			spec: corev1.PodSpec{ServiceAccountName: "builder"},
			want: deps{ConfigMaps: []string{}, Secrets: []string{}, PVCs: []string{}, ServiceAccounts: []string{"builder"}},
		},
		{
			name: "the lower cluster's own: the default service account and kube-root-ca.crt",
			spec: corev1.PodSpec{ServiceAccountName: "default", Volumes: []corev1.Volume{{Name: "p", VolumeSource: corev1.VolumeSource{
				Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
					{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: "vault", Path: "token"}},
					{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: cmRef("kube-root-ca.crt")}},
				}},
			}}}},
			want: deps{ConfigMaps: []string{}, Secrets: []string{}, PVCs: []string{}},
		},
		{
			name: "a name used twice is listed once",
			spec: corev1.PodSpec{
				Volumes: []corev1.Volume{{Name: "a", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: cmRef("shared")}}}},
				Containers: []corev1.Container{{Name: "c", EnvFrom: []corev1.EnvFromSource{
					{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: cmRef("shared")}},
				}}},
			},
			want: deps{ConfigMaps: []string{"shared"}, Secrets: []string{}, PVCs: []string{}},
		},
		{
			name: "every optional reference kind, in containers and init containers",
			spec: corev1.PodSpec{
				Volumes: []corev1.Volume{
					{Name: "a", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: cmRef("cm-vol"), Optional: ptr.To(true)}}},
					{Name: "b", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sec-vol", Optional: ptr.To(true)}}},
					{Name: "p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
						{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: cmRef("cm-proj"), Optional: ptr.To(true)}},
						{Secret: &corev1.SecretProjection{LocalObjectReference: cmRef("sec-proj"), Optional: ptr.To(true)}},
					}}}},
				},
				InitContainers: []corev1.Container{{
					Name: "init",
					EnvFrom: []corev1.EnvFromSource{
						{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: cmRef("init-cm"), Optional: ptr.To(true)}},
						{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: cmRef("init-sec"), Optional: ptr.To(true)}},
					},
				}},
				Containers: []corev1.Container{{
					Name: "main",
					EnvFrom: []corev1.EnvFromSource{
						{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: cmRef("env-from-cm"), Optional: ptr.To(true)}},
						{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: cmRef("env-from-sec"), Optional: ptr.To(true)}},
					},
					Env: []corev1.EnvVar{
						{Name: "A", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
							LocalObjectReference: cmRef("key-cm"), Key: "a", Optional: ptr.To(true)}}},
						{Name: "B", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
							LocalObjectReference: cmRef("key-sec"), Key: "b", Optional: ptr.To(true)}}},
					},
				}},
			},
			want: deps{
				ConfigMaps:         []string{"cm-proj", "cm-vol", "env-from-cm", "init-cm", "key-cm"},
				Secrets:            []string{"env-from-sec", "init-sec", "key-sec", "sec-proj", "sec-vol"},
				PVCs:               []string{},
				OptionalConfigMaps: []string{"cm-proj", "cm-vol", "env-from-cm", "init-cm", "key-cm"},
				OptionalSecrets:    []string{"env-from-sec", "init-sec", "key-sec", "sec-proj", "sec-vol"},
			},
		},
		{
			name: "optional: false is required",
			spec: corev1.PodSpec{Volumes: []corev1.Volume{
				{Name: "a", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: cmRef("cm"), Optional: ptr.To(false)}}},
				{Name: "b", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sec", Optional: ptr.To(false)}}},
			}},
			want: deps{ConfigMaps: []string{"cm"}, Secrets: []string{"sec"}, PVCs: []string{}},
		},
		{
			name: "a name referenced optionally and as required is required, wherever the required reference is",
			spec: corev1.PodSpec{
				ImagePullSecrets: []corev1.LocalObjectReference{cmRef("registry"), cmRef("pull-only")},
				Volumes: []corev1.Volume{
					{Name: "a", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: cmRef("cm"), Optional: ptr.To(true)}}},
					{Name: "b", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sec", Optional: ptr.To(true)}}},
					{Name: "p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
						{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: cmRef("cm-both-opt"), Optional: ptr.To(true)}},
					}}}},
				},
				InitContainers: []corev1.Container{{Name: "init", Env: []corev1.EnvVar{
					{Name: "A", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: cmRef("cm"), Key: "a"}}},
				}}},
				Containers: []corev1.Container{{Name: "main",
					EnvFrom: []corev1.EnvFromSource{
						{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: cmRef("sec")}},
						{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: cmRef("registry")}},
						{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: cmRef("cm-both-opt"), Optional: ptr.To(true)}},
					},
				}},
			},
			want: deps{
				ConfigMaps:         []string{"cm", "cm-both-opt"},
				Secrets:            []string{"pull-only", "registry", "sec"},
				PVCs:               []string{},
				OptionalConfigMaps: []string{"cm-both-opt"},
				OptionalSecrets:    []string{"pull-only"},
			},
		},
		{
			name: "the lower cluster's kube-root-ca.crt is no optional dependency either",
			spec: corev1.PodSpec{Volumes: []corev1.Volume{{Name: "a", VolumeSource: corev1.VolumeSource{
				ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: cmRef("kube-root-ca.crt"), Optional: ptr.To(true)}}}}},
			want: deps{ConfigMaps: []string{}, Secrets: []string{}, PVCs: []string{}},
		},
		{
			name: "empty names ignored",
			spec: corev1.PodSpec{
				ImagePullSecrets: []corev1.LocalObjectReference{{}},
				Volumes: []corev1.Volume{
					{Name: "a", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}},
					{Name: "b", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{}}},
					{Name: "o", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{Optional: ptr.To(true)}}},
					{Name: "c", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{}}},
				},
				Containers: []corev1.Container{{Name: "c", Env: []corev1.EnvVar{
					{Name: "A", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{Key: "a"}}},
				}}},
			},
			want: deps{ConfigMaps: []string{}, Secrets: []string{}, PVCs: []string{}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: tc.spec}
			if diff := cmp.Diff(tc.want, listDeps(translate.PodDependencies(pod))); diff != "" {
				t.Errorf("dependencies (-want +got):\n%s", diff)
			}
		})
	}
}
