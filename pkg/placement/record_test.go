package placement

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
	tensilefake "github.com/tensile-kube/tensile/pkg/generated/clientset/versioned/fake"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func excl(node string, expires time.Time) v1alpha1.NodeExclusion {
	return v1alpha1.NodeExclusion{Node: node, ExpiresAt: metav1.NewTime(expires)}
}

func TestRecordName(t *testing.T) {
	if got := RecordName("ReplicaSet", "web-7d9f"); got != "replicaset-web-7d9f" {
		t.Errorf("RecordName = %q", got)
	}
	long := RecordName("StatefulSet", strings.Repeat("a", 300))
	if len(long) > maxNameLength || !strings.HasPrefix(long, "statefulset-aaa") {
		t.Errorf("long name %q (%d chars)", long, len(long))
	}
	if long == RecordName("StatefulSet", strings.Repeat("a", 299)) {
		t.Error("distinct long names collide")
	}
}

func TestAdd(t *testing.T) {
	for _, tc := range []struct {
		name      string
		in        []v1alpha1.NodeExclusion
		node      string
		want      []v1alpha1.NodeExclusion
		wantAdded bool
	}{
		{name: "first exclusion", node: "vk-a", want: []v1alpha1.NodeExclusion{excl("vk-a", t0.Add(time.Hour))}, wantAdded: true},
		{name: "active entry is extended, not counted",
			in: []v1alpha1.NodeExclusion{excl("vk-a", t0.Add(time.Minute))}, node: "vk-a",
			want: []v1alpha1.NodeExclusion{excl("vk-a", t0.Add(time.Hour))}},
		{name: "active entry is never shortened",
			in: []v1alpha1.NodeExclusion{excl("vk-a", t0.Add(2*time.Hour))}, node: "vk-a",
			want: []v1alpha1.NodeExclusion{excl("vk-a", t0.Add(2*time.Hour))}},
		{name: "expired entries are pruned and an expired node counts again",
			in:   []v1alpha1.NodeExclusion{excl("vk-a", t0), excl("vk-c", t0.Add(-time.Hour)), excl("vk-b", t0.Add(time.Minute))},
			node: "vk-a",
			want: []v1alpha1.NodeExclusion{excl("vk-a", t0.Add(time.Hour)), excl("vk-b", t0.Add(time.Minute))}, wantAdded: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := append([]v1alpha1.NodeExclusion(nil), tc.in...)
			got, added := Add(tc.in, tc.node, t0, t0.Add(time.Hour))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if added != tc.wantAdded {
				t.Errorf("added = %v, want %v", added, tc.wantAdded)
			}
			if diff := cmp.Diff(before, tc.in); diff != "" {
				t.Errorf("input modified:\n%s", diff)
			}
		})
	}
}

func TestActiveAndExpired(t *testing.T) {
	in := []v1alpha1.NodeExclusion{excl("b", t0.Add(time.Second)), excl("a", t0), excl("c", t0.Add(-time.Second)), excl("c", t0.Add(time.Hour))}
	if diff := cmp.Diff([]string{"b", "c"}, Active(in, t0)); diff != "" {
		t.Errorf("Active (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"a"}, Expired(in, t0)); diff != "" {
		t.Errorf("Expired (-want +got):\n%s", diff)
	}
}

func TestRecreations(t *testing.T) {
	for in, want := range map[string]int{"": 0, "3": 3, "-1": 0, "x": 0} {
		a := map[string]string{}
		if in != "" {
			a[RecreationsAnnotation] = in
		}
		if got := Recreations(a); got != want {
			t.Errorf("Recreations(%q) = %d, want %d", in, got, want)
		}
	}
	if got := Recreations(SetRecreations(nil, 4)); got != 4 {
		t.Errorf("round trip = %d", got)
	}
}

func TestPodExclusions(t *testing.T) {
	pod := &corev1.Pod{}
	want := []v1alpha1.NodeExclusion{excl("vk-a", t0)}
	if err := SetPodExclusions(pod, want); err != nil {
		t.Fatal(err)
	}
	got, err := PodExclusions(pod)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	pod.Annotations[ExclusionsAnnotation] = "{"
	if _, err := PodExclusions(pod); err == nil {
		t.Error("malformed annotation accepted")
	}
}

func TestClientRoundTrip(t *testing.T) {
	ctx := context.Background()
	c, err := NewClient(tensilefake.NewSimpleClientset())
	if err != nil {
		t.Fatal(err)
	}
	owner := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: "u1"}
	rec := NewRecord("ns", owner)
	rec.Spec.Exclusions = []v1alpha1.NodeExclusion{excl("vk-a", t0)}
	rec.Annotations = SetRecreations(rec.Annotations, 1)
	if _, err := c.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, "ns", "replicaset-web")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rec, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if !Matches(got, owner) || Matches(got, metav1.OwnerReference{Kind: "ReplicaSet", Name: "web", UID: "u2"}) {
		t.Error("Matches does not compare the owner UID")
	}
	got.Spec.Exclusions = nil
	if _, err := c.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "ns", "missing"); !apierrors.IsNotFound(err) {
		t.Errorf("Get of a missing record: %v, want NotFound", err)
	}
}

func TestCache(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := NewCache(tensilefake.NewSimpleClientset(NewRecord("ns", metav1.OwnerReference{Kind: "Job", Name: "j", UID: "u"})), 0)
	if err != nil {
		t.Fatal(err)
	}
	go c.Run(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), c.HasSynced) {
		t.Fatal("cache did not sync")
	}
	rec, ok, err := c.Get("ns", "job-j")
	if err != nil || !ok || rec.Spec.Owner.UID != "u" {
		t.Fatalf("Get = %v, %v, %v", rec, ok, err)
	}
	if _, ok, _ := c.Get("ns", "other"); ok {
		t.Error("found a record that does not exist")
	}
}
