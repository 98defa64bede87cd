package virtualnode

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/tensile-kube/tensile/internal/translate"
	"github.com/tensile-kube/tensile/pkg/capacity"
)

var testOwner = translate.Owner{VirtualNode: "vk", UpperCluster: "up-1"}

// lowerPod is a lower pod as a ReplicaSet and KWOK leave it: labels, managedFields of
// three managers, a service-account volume, default tolerations, a running status.
func lowerPod(i int, lbls map[string]string) *corev1.Pod {
	req := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")}
	fields := func(n int) *metav1.FieldsV1 {
		return &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:labels":{".":{},"f:app":{},"f:pod-template-hash":{}},"f:ownerReferences":{}},"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:image":{},"f:name":{},"f:resources":{"f:requests":{".":{},"f:cpu":{},"f:memory":{}}}}}` + strings.Repeat(`,"f:x`+fmt.Sprint(n)+`":{}`, 20) + `}}`)}
	}
	now := metav1.Now()
	l := map[string]string{"app": "filler", "pod-template-hash": "5d8f7c9b6"}
	for k, v := range lbls {
		l[k] = v
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("filler-5d8f7c9b6-%05d", i), Namespace: "default", UID: types.UID(fmt.Sprint("uid-", i)),
			ResourceVersion: fmt.Sprint(1000 + i), Generation: 1, Labels: l, CreationTimestamp: now,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "filler-5d8f7c9b6", UID: "rs"}},
			ManagedFields: []metav1.ManagedFieldsEntry{
				{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, FieldsType: "FieldsV1", FieldsV1: fields(1), Time: &now},
				{Manager: "kube-scheduler", Operation: metav1.ManagedFieldsOperationUpdate, Subresource: "status", FieldsType: "FieldsV1", FieldsV1: fields(2), Time: &now},
				{Manager: "kwok-controller", Operation: metav1.ManagedFieldsOperationUpdate, Subresource: "status", FieldsType: "FieldsV1", FieldsV1: fields(3), Time: &now},
			},
		},
		Spec: corev1.PodSpec{
			NodeName: fmt.Sprintf("lower-%02d", i%20), ServiceAccountName: "default", SchedulerName: "default-scheduler",
			Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10", Resources: corev1.ResourceRequirements{Requests: req},
				TerminationMessagePath: "/dev/termination-log", TerminationMessagePolicy: corev1.TerminationMessageReadFile, ImagePullPolicy: corev1.PullIfNotPresent,
				VolumeMounts: []corev1.VolumeMount{{Name: "kube-api-access-abcde", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true}}}},
			Volumes: []corev1.Volume{{Name: "kube-api-access-abcde", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}, Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
				{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
			}}}}},
			Tolerations: []corev1.Toleration{
				{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
				{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
			},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, HostIP: "10.0.0.1", PodIP: fmt.Sprintf("10.1.%d.%d", i/250, i%250), StartTime: &now, QOSClass: corev1.PodQOSBurstable,
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, Image: "registry.k8s.io/pause:3.10", ImageID: "docker-pullable://pause@sha256:abc",
				ContainerID: "containerd://" + strings.Repeat("f", 64), State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}},
		},
	}
}

func TestLowerTransform(t *testing.T) {
	transform := lowerTransform(testOwner)
	own := lowerPod(1, testOwner.Labels())
	got, err := transform(own.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	want := own.DeepCopy()
	want.ManagedFields = nil
	if g := got.(*corev1.Pod); g.Spec.Volumes == nil || g.Status.PodIP != want.Status.PodIP || g.ManagedFields != nil || len(g.Labels) != len(want.Labels) {
		t.Errorf("our own pod was not kept whole (less managedFields): %+v", g)
	}

	foreign := lowerPod(2, nil)
	got, err = transform(foreign.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	if g := got.(*corev1.Pod); g.Labels != nil || g.Spec.Volumes != nil || g.Status.PodIP != "" ||
		g.Spec.NodeName != foreign.Spec.NodeName || g.Status.Phase != foreign.Status.Phase {
		t.Errorf("a foreign pod keeps %+v, want only what the capacity model reads", g)
	}

	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", ManagedFields: foreign.ManagedFields, Labels: map[string]string{"a": "b"}}}
	got, _ = transform(node)
	if g := got.(*corev1.Node); g.ManagedFields != nil || g.Labels["a"] != "b" {
		t.Errorf("node after transform: %+v; want it whole without managedFields", g.ObjectMeta)
	}
	tomb := cache.DeletedFinalStateUnknown{Key: "default/x", Obj: foreign}
	if got, err := transform(tomb); err != nil || got != any(tomb) {
		t.Errorf("a tombstone came out as %v, %v; want it unchanged", got, err)
	}
}

// retained loads n foreign lower pods as an informer does (each decoded from its own
// JSON, then transformed, then stored) and returns the heap they keep after GC.
func retained(tb testing.TB, n int, transform cache.TransformFunc) (uint64, cache.Store) {
	return retainedObjects(tb, n, func(i int) any { return lowerPod(i, nil) }, func() any { return &corev1.Pod{} }, transform)
}

// retainedObjects loads n objects made by object as an informer does (each decoded from
// its own JSON into a fresh empty(), then transformed, then stored) and returns the heap
// they keep after GC.
func retainedObjects(tb testing.TB, n int, object func(i int) any, empty func() any, transform cache.TransformFunc) (uint64, cache.Store) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	store := cache.NewStore(cache.MetaNamespaceKeyFunc)
	for i := range n {
		raw, err := json.Marshal(object(i))
		if err != nil {
			tb.Fatal(err)
		}
		obj := empty()
		if err := json.Unmarshal(raw, obj); err != nil {
			tb.Fatal(err)
		}
		if transform != nil {
			if obj, err = transform(obj); err != nil {
				tb.Fatal(err)
			}
		}
		if err := store.Add(obj); err != nil {
			tb.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	return after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc), store
}

// BenchmarkForeignPodCache reports the heap that 10,000 foreign lower pods keep in the
// lower pod cache, whole and through lowerTransform, and the ratio of the two (run:
// go test -run '^$' -bench ForeignPodCache -benchtime 1x ./internal/virtualnode/).
func BenchmarkForeignPodCache(b *testing.B) {
	const n = 10000
	for range b.N {
		whole, s1 := retained(b, n, nil)
		runtime.KeepAlive(s1)
		s1 = nil
		stripped, s2 := retained(b, n, lowerTransform(testOwner))
		runtime.KeepAlive(s2)
		b.ReportMetric(float64(whole)/n, "whole-B/pod")
		b.ReportMetric(float64(stripped)/n, "transformed-B/pod")
		b.ReportMetric(float64(stripped)/float64(whole), "ratio")
	}
}

// TestForeignPodCacheShrinks: the transform keeps at most 40% of what whole foreign
// pods keep (about a third measured: the Pod struct itself is most of the rest), and
// the model counts them the same.
func TestForeignPodCacheShrinks(t *testing.T) {
	const n = 2000
	whole, s1 := retained(t, n, nil)
	stripped, s2 := retained(t, n, lowerTransform(testOwner))
	if stripped*10 > whole*4 {
		t.Errorf("transformed foreign pods keep %d B, whole ones %d B: want at most 40%%", stripped, whole)
	}
	m1, m2 := capacity.NewModel(capacity.Options{}), capacity.NewModel(capacity.Options{})
	for i := range 20 {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("lower-%02d", i)}, Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("500")},
			Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
		m1.SetNode(node)
		m2.SetNode(node)
	}
	for _, o := range s1.List() {
		m1.SetPod(o.(*corev1.Pod))
	}
	for _, o := range s2.List() {
		m2.SetPod(o.(*corev1.Pod))
	}
	a, b := m1.Aggregate(), m2.Aggregate()
	if a.Allocatable.Cpu().Cmp(resource.MustParse("440")) != 0 || fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("model aggregate whole %v, transformed %v; want both 640 CPUs less 2000 x 100m", a, b)
	}
}

// upperSecret is an upper Secret of size bytes of data in four keys, with the
// managedFields of one manager.
func upperSecret(i, size int) *corev1.Secret {
	now := metav1.Now()
	data := map[string][]byte{}
	for k := range 4 {
		v := make([]byte, size/4)
		for j := range v {
			v[j] = byte(i + j*k)
		}
		data[fmt.Sprint("key-", k)] = v
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("secret-%05d", i), Namespace: "default", UID: types.UID(fmt.Sprint("uid-", i)),
			ResourceVersion: fmt.Sprint(1000 + i), CreationTimestamp: now, Labels: map[string]string{"app": "web"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationUpdate, FieldsType: "FieldsV1",
				FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:data":{".":{},"f:key-0":{},"f:key-1":{},"f:key-2":{},"f:key-3":{}},"f:type":{}}`)}, Time: &now}}},
		Type: corev1.SecretTypeOpaque, Data: data,
	}
}

// retainedSecrets is retainedObjects of n upper Secrets of size bytes each.
func retainedSecrets(tb testing.TB, n, size int, transform cache.TransformFunc) (uint64, cache.Store) {
	return retainedObjects(tb, n, func(i int) any { return upperSecret(i, size) }, func() any { return &corev1.Secret{} }, transform)
}

// BenchmarkUpperSecretCache reports the heap that 1,000 upper Secrets of 8 KiB keep in
// the upper Secrets cache, without managedFields only (the transform before Secrets
// lost their data) and through upperTransform, and the ratio of the two (run: go test
// -run '^$' -bench UpperSecretCache -benchtime 1x ./internal/virtualnode/).
func BenchmarkUpperSecretCache(b *testing.B) {
	const n, size = 1000, 8 << 10
	for range b.N {
		whole, s1 := retainedSecrets(b, n, size, withoutManagedFields)
		runtime.KeepAlive(s1)
		s1 = nil
		stripped, s2 := retainedSecrets(b, n, size, upperTransform)
		runtime.KeepAlive(s2)
		b.ReportMetric(float64(whole)/n, "whole-B/secret")
		b.ReportMetric(float64(stripped)/n, "transformed-B/secret")
		b.ReportMetric(float64(stripped)/float64(whole), "ratio")
	}
}

// TestUpperTransform: upper Secrets lose their data and managedFields and carry the
// data's hash; other upper objects lose their managedFields only; the cache of 8 KiB
// Secrets shrinks to at most a fifth (an eighth measured: what is left is metadata).
func TestUpperTransform(t *testing.T) {
	s := upperSecret(1, 64)
	hash := translate.SecretDataHash(s.Data)
	got, err := upperTransform(s)
	if g := got.(*corev1.Secret); err != nil || g.Data != nil || g.ManagedFields != nil || g.Annotations[translate.AnnotationDataHash] != hash || g.Labels["app"] != "web" {
		t.Errorf("upper Secret after transform: %+v, %v", got, err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "m"}}}, Data: map[string]string{"k": "v"}}
	got, err = upperTransform(cm)
	if g := got.(*corev1.ConfigMap); err != nil || g.ManagedFields != nil || g.Data["k"] != "v" || g.Annotations != nil {
		t.Errorf("upper ConfigMap after transform: %+v, %v", got, err)
	}
	whole, s1 := retainedSecrets(t, 500, 8<<10, withoutManagedFields)
	runtime.KeepAlive(s1)
	stripped, s2 := retainedSecrets(t, 500, 8<<10, upperTransform)
	runtime.KeepAlive(s2)
	if stripped*5 > whole {
		t.Errorf("transformed 8 KiB Secrets keep %d B, whole ones %d B: want at most a fifth", stripped, whole)
	}
}
