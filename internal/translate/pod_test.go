package translate_test

import (
	"bufio"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/tensile-kube/tensile/internal/translate"
	"github.com/tensile-kube/tensile/pkg/constraints"
	"github.com/tensile-kube/tensile/pkg/vnodeident"
)

const vnode = "vk-node"

var owner = translate.Owner{VirtualNode: vnode, UpperCluster: "upper-1"}

// upperPod is a pod bound to the virtual node as the upper API server stores it; mods
// adjust it per case.
func upperPod(mods ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web", Namespace: "app", UID: "uid-1", ResourceVersion: "42",
			Labels:          map[string]string{"app": "web"},
			Annotations:     map[string]string{"note": "kept"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-1", UID: "rs-uid"}},
			Finalizers:      []string{"example.com/upper"},
		},
		Spec: corev1.PodSpec{
			NodeName:      vnode,
			SchedulerName: "default-scheduler",
			Priority:      ptr.To[int32](1000),
			Containers: []corev1.Container{{
				Name: "main", Image: "nginx:1.27",
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
				},
			}},
			EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox"}}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1"},
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

// lowerPod is what PodToLower must return for upperPod() with default options; mods
// adjust it per case.
func lowerPod(mods ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web", Namespace: "app",
			Labels: map[string]string{
				"app": "web", translate.LabelVirtualNode: vnode, translate.LabelUpperCluster: "upper-1",
			},
			Annotations: map[string]string{"note": "kept", translate.AnnotationUpperUID: "uid-1", translate.AnnotationNamespaceMap: "{namespace}"},
		},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "main", Image: "nginx:1.27",
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
				},
			}},
			AutomountServiceAccountToken: ptr.To(false),
		},
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

func withSaved(c *constraints.Constraints) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		if err := constraints.Save(p, c); err != nil {
			panic(err)
		}
	}
}

func withSpec(f func(*corev1.PodSpec)) func(*corev1.Pod) {
	return func(p *corev1.Pod) { f(&p.Spec) }
}

func expr(key string, op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorRequirement {
	return corev1.NodeSelectorRequirement{Key: key, Operator: op, Values: values}
}

func term(exprs ...corev1.NodeSelectorRequirement) corev1.NodeSelectorTerm {
	return corev1.NodeSelectorTerm{MatchExpressions: exprs}
}

func requiredAffinity(terms ...corev1.NodeSelectorTerm) *corev1.Affinity {
	return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms},
	}}
}

var (
	providerToleration = corev1.Toleration{Key: vnodeident.TaintProvider, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
	gpuToleration      = corev1.Toleration{Key: "gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
	dedicatedTol       = corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "batch", Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](30)}
	hostIsVnode        = expr(vnodeident.LabelHostname, corev1.NodeSelectorOpIn, vnode)
	typeIsVirtual      = expr(vnodeident.LabelType, corev1.NodeSelectorOpIn, vnodeident.ValueVirtualKubelet)
	zoneA              = expr("topology.kubernetes.io/zone", corev1.NodeSelectorOpIn, "a")
	zoneB              = expr("topology.kubernetes.io/zone", corev1.NodeSelectorOpIn, "b")
	diskSSD            = expr("disk", corev1.NodeSelectorOpIn, "ssd")
)

// tokenVolume is the projected volume the upper ServiceAccount admission adds.
var tokenVolume = corev1.Volume{Name: "kube-api-access-abcde", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
	Sources: []corev1.VolumeProjection{
		{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To[int64](3607)}},
		{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}}},
	},
}}}

var (
	tokenMount    = corev1.VolumeMount{Name: "kube-api-access-abcde", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true}
	dataVolume    = corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}
	dataMount     = corev1.VolumeMount{Name: "data", MountPath: "/data"}
	projectedOnly = corev1.Volume{Name: "bundle", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "tls"}}}},
	}}}
)

// withTokenVolume gives the pod the admission-added token volume, its mounts in a
// container and an init container, and a regular volume that must survive.
func withTokenVolume(p *corev1.Pod) {
	p.Spec.ServiceAccountName = "builder"
	p.Spec.DeprecatedServiceAccount = "builder"
	p.Spec.Volumes = []corev1.Volume{dataVolume, tokenVolume, projectedOnly}
	p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{dataMount, tokenMount}
	p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox", VolumeMounts: []corev1.VolumeMount{tokenMount}}}
}

type podCase struct {
	name    string
	upper   *corev1.Pod
	opts    *translate.PodOptions // nil: {Owner: owner}
	want    *corev1.Pod
	wantErr bool
}

// runPodCases is the shared runner: it checks the lower pod (or the error) and that the
// upper pod was not modified.
func runPodCases(t *testing.T, cases []podCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := translate.PodOptions{Owner: owner}
			if tc.opts != nil {
				opts = *tc.opts
			}
			before := tc.upper.DeepCopy()
			got, err := translate.PodToLower(tc.upper, opts)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("PodToLower succeeded, want an error; got %v", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("PodToLower: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("lower pod (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, tc.upper); diff != "" {
				t.Errorf("upper pod modified (-before +after):\n%s", diff)
			}
		})
	}
}

func TestPodToLowerMetadataAndSpec(t *testing.T) {
	runPodCases(t, []podCase{
		{
			name:  "clears node binding, status, ephemeral containers, scheduler and priority; marks ownership",
			upper: upperPod(),
			want:  lowerPod(),
		},
		{
			name: "overhead left to the lower RuntimeClass: the upper one's would be rejected when they differ",
			upper: upperPod(withSpec(func(s *corev1.PodSpec) {
				s.RuntimeClassName = ptr.To("gvisor")
				s.Overhead = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}
			})),
			want: lowerPod(func(p *corev1.Pod) { p.Spec.RuntimeClassName = ptr.To("gvisor") }),
		},
		{
			name: "ownership marks override copied values of the same keys",
			upper: upperPod(func(p *corev1.Pod) {
				p.Labels[translate.LabelVirtualNode] = "someone-else"
				p.Annotations[translate.AnnotationUpperUID] = "forged"
			}),
			want: lowerPod(),
		},
		{
			name:  "saved constraints annotation removed even when empty",
			upper: upperPod(withSaved(&constraints.Constraints{})),
			want:  lowerPod(),
		},
		{
			name:    "malformed constraints annotation is an error",
			upper:   upperPod(func(p *corev1.Pod) { p.Annotations[constraints.Annotation] = "{not json" }),
			wantErr: true,
		},
		{
			name:  "priority class dropped when the lower cluster has no way to tell",
			upper: upperPod(withSpec(func(s *corev1.PodSpec) { s.PriorityClassName = "high" })),
			want:  lowerPod(),
		},
		{
			// The upper API server fills priority and preemptionPolicy from the upper
			// class; the lower admission rejects a pod that carries either.
			name: "priority and preemption policy left to the lower admission",
			upper: upperPod(withSpec(func(s *corev1.PodSpec) {
				s.PriorityClassName, s.Priority = "batch-low", ptr.To[int32](10)
				s.PreemptionPolicy = ptr.To(corev1.PreemptNever)
			})),
			want: lowerPod(),
		},
		{
			name:  "priority class dropped when missing below",
			upper: upperPod(withSpec(func(s *corev1.PodSpec) { s.PriorityClassName = "high" })),
			opts:  &translate.PodOptions{Owner: owner, HasPriorityClass: func(string) bool { return false }},
			want:  lowerPod(),
		},
		{
			name:  "priority class kept when present below",
			upper: upperPod(withSpec(func(s *corev1.PodSpec) { s.PriorityClassName = "high" })),
			opts:  &translate.PodOptions{Owner: owner, HasPriorityClass: func(n string) bool { return n == "high" }},
			want:  lowerPod(withSpec(func(s *corev1.PodSpec) { s.PriorityClassName = "high" })),
		},
	})
}

func TestPodToLowerVirtualScheduling(t *testing.T) {
	runPodCases(t, []podCase{
		{
			name: "virtual-node selector keys removed, other keys kept",
			upper: upperPod(withSpec(func(s *corev1.PodSpec) {
				s.NodeSelector = map[string]string{
					vnodeident.LabelType: vnodeident.ValueVirtualKubelet, vnodeident.LabelRole: vnodeident.ValueAgent,
					vnodeident.LabelHostname: vnode, "disk": "ssd",
				}
			})),
			want: lowerPod(withSpec(func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{"disk": "ssd"} })),
		},
		{
			name: "selector left empty becomes nil",
			upper: upperPod(withSpec(func(s *corev1.PodSpec) {
				s.NodeSelector = map[string]string{vnodeident.LabelType: vnodeident.ValueVirtualKubelet}
			})),
			want: lowerPod(),
		},
		{
			name: "hostname of a lower node is not about the virtual node",
			upper: upperPod(withSpec(func(s *corev1.PodSpec) {
				s.NodeSelector = map[string]string{vnodeident.LabelHostname: "worker-1"}
			})),
			want: lowerPod(withSpec(func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{vnodeident.LabelHostname: "worker-1"} })),
		},
		{
			name: "provider toleration removed, others kept in order",
			upper: upperPod(withSpec(func(s *corev1.PodSpec) {
				s.Tolerations = []corev1.Toleration{gpuToleration, providerToleration, dedicatedTol}
			})),
			want: lowerPod(withSpec(func(s *corev1.PodSpec) { s.Tolerations = []corev1.Toleration{gpuToleration, dedicatedTol} })),
		},
		{
			name:  "only the provider toleration leaves none",
			upper: upperPod(withSpec(func(s *corev1.PodSpec) { s.Tolerations = []corev1.Toleration{providerToleration} })),
			want:  lowerPod(),
		},
		{
			name: "required terms lose virtual-node expressions and fields; other matchFields kept",
			upper: upperPod(withSpec(func(s *corev1.PodSpec) {
				s.Affinity = requiredAffinity(
					term(hostIsVnode, zoneA),
					corev1.NodeSelectorTerm{
						MatchExpressions: []corev1.NodeSelectorRequirement{hostIsVnode},
						MatchFields:      []corev1.NodeSelectorRequirement{expr("metadata.name", corev1.NodeSelectorOpIn, "worker-1")},
					},
					term(expr(vnodeident.LabelHostname, corev1.NodeSelectorOpNotIn, "vk-a"), diskSSD),
					corev1.NodeSelectorTerm{
						MatchExpressions: []corev1.NodeSelectorRequirement{zoneB},
						MatchFields:      []corev1.NodeSelectorRequirement{expr("metadata.name", corev1.NodeSelectorOpIn, vnode)},
					},
				)
			})),
			want: lowerPod(withSpec(func(s *corev1.PodSpec) {
				s.Affinity = requiredAffinity(
					term(zoneA),
					corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{expr("metadata.name", corev1.NodeSelectorOpIn, "worker-1")}},
					term(diskSSD),
					term(zoneB),
				)
			})),
		},
		{
			// Terms are ORed: the pod satisfied the emptied one by being on the virtual
			// node, so below any node will do, zone a or not.
			name: "a required term only about virtual nodes lets every lower node in",
			upper: upperPod(withSpec(func(s *corev1.PodSpec) {
				s.Affinity = requiredAffinity(term(zoneA), term(expr(vnodeident.LabelHostname, corev1.NodeSelectorOpNotIn, "vk-a", "vk-b")))
			})),
			want: lowerPod(),
		},
		{
			name: "DaemonSet-style matchFields naming the virtual node go",
			upper: upperPod(withSpec(func(s *corev1.PodSpec) {
				s.Affinity = requiredAffinity(corev1.NodeSelectorTerm{
					MatchFields: []corev1.NodeSelectorRequirement{expr("metadata.name", corev1.NodeSelectorOpIn, vnode)},
				})
			})),
			want: lowerPod(),
		},
		{
			name: "type Exists and In with the virtual value go; type NotIn applies below",
			upper: upperPod(withSpec(func(s *corev1.PodSpec) {
				s.Affinity = requiredAffinity(term(
					expr(vnodeident.LabelType, corev1.NodeSelectorOpExists),
					expr(vnodeident.LabelType, corev1.NodeSelectorOpIn, vnodeident.ValueVirtualKubelet, "edge"),
					expr(vnodeident.LabelType, corev1.NodeSelectorOpNotIn, "gpu"),
				))
			})),
			want: lowerPod(withSpec(func(s *corev1.PodSpec) {
				s.Affinity = requiredAffinity(term(expr(vnodeident.LabelType, corev1.NodeSelectorOpNotIn, "gpu")))
			})),
		},
		{
			name: "preferred terms lose virtual-node expressions; empty ones dropped",
			upper: upperPod(withSpec(func(s *corev1.PodSpec) {
				s.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{
					{Weight: 10, Preference: term(typeIsVirtual)},
					{Weight: 5, Preference: term(hostIsVnode, zoneB)},
				}}}
			})),
			want: lowerPod(withSpec(func(s *corev1.PodSpec) {
				s.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{
					{Weight: 5, Preference: term(zoneB)},
				}}}
			})),
		},
		{
			name: "affinity about the virtual node only becomes nil",
			upper: upperPod(withSpec(func(s *corev1.PodSpec) {
				s.Affinity = requiredAffinity(term(hostIsVnode), term(typeIsVirtual))
				s.Affinity.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution = []corev1.PreferredSchedulingTerm{{Weight: 1, Preference: term(typeIsVirtual)}}
			})),
			want: lowerPod(),
		},
		{
			name: "pod anti-affinity survives when node affinity goes",
			upper: upperPod(withSpec(func(s *corev1.PodSpec) {
				s.Affinity = requiredAffinity(term(hostIsVnode))
				s.Affinity.PodAntiAffinity = &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{
					{TopologyKey: vnodeident.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
				}}
			})),
			want: lowerPod(withSpec(func(s *corev1.PodSpec) {
				s.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{
					{TopologyKey: vnodeident.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
				}}}
			})),
		},
	})
}

func TestPodToLowerRestoresSavedConstraints(t *testing.T) {
	runPodCases(t, []podCase{
		{
			name: "webhook-split pod gets its lower constraints back",
			upper: upperPod(
				withSpec(func(s *corev1.PodSpec) {
					s.NodeSelector = map[string]string{vnodeident.LabelType: vnodeident.ValueVirtualKubelet}
					s.Tolerations = []corev1.Toleration{providerToleration}
					s.Affinity = requiredAffinity(term(expr(vnodeident.LabelHostname, corev1.NodeSelectorOpNotIn, "vk-a")))
				}),
				withSaved(&constraints.Constraints{
					NodeSelector: map[string]string{"disk": "ssd"},
					NodeAffinity: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{term(zoneA), term(zoneB)}},
					Tolerations:  []corev1.Toleration{gpuToleration},
				}),
			),
			want: lowerPod(withSpec(func(s *corev1.PodSpec) {
				s.NodeSelector = map[string]string{"disk": "ssd"}
				s.Tolerations = []corev1.Toleration{gpuToleration}
				s.Affinity = requiredAffinity(term(zoneA), term(zoneB))
			})),
		},
		{
			name: "selector merged, required terms replaced, tolerations appended without duplicates",
			upper: upperPod(
				withSpec(func(s *corev1.PodSpec) {
					s.NodeSelector = map[string]string{vnodeident.LabelType: vnodeident.ValueVirtualKubelet, "team": "x", "disk": "hdd"}
					s.Tolerations = []corev1.Toleration{providerToleration, dedicatedTol}
					s.Affinity = requiredAffinity(term(zoneA))
					s.Affinity.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution = []corev1.PreferredSchedulingTerm{{Weight: 3, Preference: term(zoneB)}}
				}),
				withSaved(&constraints.Constraints{
					NodeSelector: map[string]string{"disk": "ssd"},
					NodeAffinity: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{term(diskSSD)}},
					Tolerations:  []corev1.Toleration{dedicatedTol, gpuToleration},
				}),
			),
			want: lowerPod(withSpec(func(s *corev1.PodSpec) {
				s.NodeSelector = map[string]string{"team": "x", "disk": "ssd"}
				s.Tolerations = []corev1.Toleration{dedicatedTol, gpuToleration}
				s.Affinity = requiredAffinity(term(diskSSD))
				s.Affinity.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution = []corev1.PreferredSchedulingTerm{{Weight: 3, Preference: term(zoneB)}}
			})),
		},
		{
			name: "saved affinity without terms leaves the affinity alone",
			upper: upperPod(
				withSpec(func(s *corev1.PodSpec) { s.Affinity = requiredAffinity(term(zoneA)) }),
				withSaved(&constraints.Constraints{NodeAffinity: &corev1.NodeSelector{}}),
			),
			want: lowerPod(withSpec(func(s *corev1.PodSpec) { s.Affinity = requiredAffinity(term(zoneA)) })),
		},
	})
}

func TestPodToLowerServiceAccountToken(t *testing.T) {
	lowerTokens := &translate.PodOptions{Owner: owner, LowerServiceAccountToken: true}
	audienceVolume := corev1.Volume{Name: "vault-token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: "vault", Path: "token"}}},
	}}}
	withAudienceVolume := func(p *corev1.Pod) { p.Spec.Volumes = append(p.Spec.Volumes, audienceVolume) }
	runPodCases(t, []podCase{
		{
			name:  "no lower tokens: token volume and its mounts removed, automount off, other volumes intact",
			upper: upperPod(withTokenVolume, withAudienceVolume),
			want: lowerPod(func(p *corev1.Pod) {
				p.Spec.ServiceAccountName = "builder"
				p.Spec.Volumes = []corev1.Volume{dataVolume, projectedOnly}
				p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{dataMount}
				p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox"}}
			}),
		},
		{
			name:  "no lower tokens: automount true upstairs is turned off",
			upper: upperPod(withSpec(func(s *corev1.PodSpec) { s.AutomountServiceAccountToken = ptr.To(true) })),
			want:  lowerPod(),
		},
		{
			name:  "lower tokens: the upper token volume goes, the lower admission mounts the lower ServiceAccount's",
			upper: upperPod(withTokenVolume, withAudienceVolume, withSpec(func(s *corev1.PodSpec) { s.AutomountServiceAccountToken = nil })),
			opts:  lowerTokens,
			want: lowerPod(func(p *corev1.Pod) {
				p.Spec.ServiceAccountName = "builder"
				p.Spec.Volumes = []corev1.Volume{dataVolume, projectedOnly, audienceVolume}
				p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{dataMount}
				p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox"}}
				p.Spec.AutomountServiceAccountToken = nil
			}),
		},
		{
			name:  "lower tokens: automount true upstairs stays true",
			upper: upperPod(withTokenVolume, withSpec(func(s *corev1.PodSpec) { s.AutomountServiceAccountToken = ptr.To(true) })),
			opts:  lowerTokens,
			want: lowerPod(func(p *corev1.Pod) {
				p.Spec.ServiceAccountName = "builder"
				p.Spec.Volumes = []corev1.Volume{dataVolume, projectedOnly}
				p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{dataMount}
				p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox"}}
				p.Spec.AutomountServiceAccountToken = ptr.To(true)
			}),
		},
		{
			name:  "lower tokens: a pod without a token above gets none below",
			upper: upperPod(withSpec(func(s *corev1.PodSpec) { s.AutomountServiceAccountToken = nil; s.ServiceAccountName = "builder" })),
			opts:  lowerTokens,
			want:  lowerPod(withSpec(func(s *corev1.PodSpec) { s.ServiceAccountName = "builder" })),
		},
	})
}

func TestPodToLowerNamespaceMap(t *testing.T) {
	mapped := owner
	var err error
	if mapped.Namespaces, err = translate.ParseNamespaceMap("{namespace}-{cluster}", owner); err != nil {
		t.Fatal(err)
	}
	runPodCases(t, []podCase{{
		name:  "the lower pod lives in the mapped namespace",
		upper: upperPod(),
		opts:  &translate.PodOptions{Owner: mapped},
		want: lowerPod(func(p *corev1.Pod) {
			p.Namespace = "app-upper-1"
			p.Annotations[translate.AnnotationNamespaceMap] = "{namespace}-upper-1"
		}),
	}})
}

// seedPod returns the Pod of the walkthrough workload in testdata.
func seedPod(t *testing.T) *corev1.Pod {
	t.Helper()
	f, err := os.Open("testdata/seed-workload.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := utilyaml.NewYAMLReader(bufio.NewReader(f))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			t.Fatal("no Pod in testdata/seed-workload.yaml")
		}
		if err != nil {
			t.Fatal(err)
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			t.Fatal(err)
		}
		if tm.Kind != "Pod" {
			continue
		}
		pod := &corev1.Pod{}
		if err := yaml.UnmarshalStrict(doc, pod); err != nil {
			t.Fatal(err)
		}
		return pod
	}
}

func TestPodToLowerSeedWalkthrough(t *testing.T) {
	upper := seedPod(t)
	upper.Namespace, upper.UID, upper.Spec.NodeName = "default", "seed-uid", vnode
	got, err := translate.PodToLower(upper, translate.PodOptions{Owner: owner})
	if err != nil {
		t.Fatal(err)
	}
	want := upper.DeepCopy()
	want.Spec.NodeName = ""
	want.Spec.NodeSelector = nil
	want.Spec.Tolerations = nil
	want.Labels = owner.Labels()
	want.Annotations = map[string]string{translate.AnnotationUpperUID: "seed-uid", translate.AnnotationNamespaceMap: "{namespace}"}
	want.UID = ""
	want.TypeMeta = metav1.TypeMeta{}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lower pod (-want +got):\n%s", diff)
	}
	if len(got.Spec.Volumes) != 3 {
		t.Errorf("volumes = %v, want foo, bar and local kept", got.Spec.Volumes)
	}
}

// lowerRunning is a lower pod as the lower API server returns it: PodToLower's output
// plus what the lower cluster set.
func lowerRunning(mods ...func(*corev1.Pod)) *corev1.Pod {
	p := lowerPod(func(p *corev1.Pod) {
		p.UID = "lower-uid"
		p.ResourceVersion = "7"
		p.Spec.NodeName = "worker-1"
		p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox:1"}}
		p.Spec.Tolerations = []corev1.Toleration{gpuToleration}
		p.Status.Phase = corev1.PodRunning
	})
	for _, m := range mods {
		m(p)
	}
	return p
}

func TestApplyUpdate(t *testing.T) {
	desiredBase := func(mods ...func(*corev1.Pod)) *corev1.Pod {
		p := lowerPod(func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox:1"}}
			p.Spec.Tolerations = []corev1.Toleration{gpuToleration}
		})
		for _, m := range mods {
			m(p)
		}
		return p
	}
	for _, tc := range []struct {
		name        string
		lower       *corev1.Pod
		desired     *corev1.Pod
		previous    *corev1.Pod
		want        *corev1.Pod
		wantChanged bool
		wantErr     bool
	}{
		{
			name:    "annotations written by lower components are kept",
			lower:   lowerRunning(func(p *corev1.Pod) { p.Annotations["cni.projectcalico.org/podIP"] = "10.244.1.5/32" }),
			desired: desiredBase(),
			want:    lowerRunning(func(p *corev1.Pod) { p.Annotations["cni.projectcalico.org/podIP"] = "10.244.1.5/32" }),
		},
		{
			name:        "a label the upper pod dropped is removed below",
			lower:       lowerRunning(func(p *corev1.Pod) { p.Labels["tier"] = "front" }),
			previous:    desiredBase(func(p *corev1.Pod) { p.Labels["tier"] = "front" }),
			desired:     desiredBase(),
			want:        lowerRunning(),
			wantChanged: true,
		},
		{
			name:    "identical",
			lower:   lowerRunning(),
			desired: desiredBase(),
			want:    lowerRunning(),
		},
		{
			name:        "container image",
			lower:       lowerRunning(),
			desired:     desiredBase(func(p *corev1.Pod) { p.Spec.Containers[0].Image = "nginx:1.28" }),
			want:        lowerRunning(func(p *corev1.Pod) { p.Spec.Containers[0].Image = "nginx:1.28" }),
			wantChanged: true,
		},
		{
			name:        "init container image",
			lower:       lowerRunning(),
			desired:     desiredBase(func(p *corev1.Pod) { p.Spec.InitContainers[0].Image = "busybox:2" }),
			want:        lowerRunning(func(p *corev1.Pod) { p.Spec.InitContainers[0].Image = "busybox:2" }),
			wantChanged: true,
		},
		{
			name:        "label",
			lower:       lowerRunning(),
			desired:     desiredBase(func(p *corev1.Pod) { p.Labels["tier"] = "front" }),
			want:        lowerRunning(func(p *corev1.Pod) { p.Labels["tier"] = "front" }),
			wantChanged: true,
		},
		{
			name:        "annotation",
			lower:       lowerRunning(),
			desired:     desiredBase(func(p *corev1.Pod) { p.Annotations["note"] = "changed" }),
			want:        lowerRunning(func(p *corev1.Pod) { p.Annotations["note"] = "changed" }),
			wantChanged: true,
		},
		{
			name:        "activeDeadlineSeconds",
			lower:       lowerRunning(),
			desired:     desiredBase(func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](60) }),
			want:        lowerRunning(func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](60) }),
			wantChanged: true,
		},
		{
			name:        "added toleration",
			lower:       lowerRunning(),
			desired:     desiredBase(func(p *corev1.Pod) { p.Spec.Tolerations = append(p.Spec.Tolerations, dedicatedTol) }),
			want:        lowerRunning(func(p *corev1.Pod) { p.Spec.Tolerations = append(p.Spec.Tolerations, dedicatedTol) }),
			wantChanged: true,
		},
		{
			name:  "different container count",
			lower: lowerRunning(),
			desired: desiredBase(func(p *corev1.Pod) {
				p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "side", Image: "envoy"})
			}),
			wantErr: true,
		},
		{
			name:    "different init container count",
			lower:   lowerRunning(),
			desired: desiredBase(func(p *corev1.Pod) { p.Spec.InitContainers = nil }),
			wantErr: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			changed, err := translate.ApplyUpdate(tc.lower, tc.desired, tc.previous)
			if tc.wantErr {
				if err == nil {
					t.Fatal("ApplyUpdate succeeded, want an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("ApplyUpdate: %v", err)
			}
			if changed != tc.wantChanged {
				t.Errorf("changed = %v, want %v", changed, tc.wantChanged)
			}
			if diff := cmp.Diff(tc.want, tc.lower); diff != "" {
				t.Errorf("lower pod (-want +got):\n%s", diff)
			}
		})
	}
}
