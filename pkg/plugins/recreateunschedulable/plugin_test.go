package recreateunschedulable

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/descheduler/pkg/api"
	"sigs.k8s.io/descheduler/pkg/descheduler/evictions"
	"sigs.k8s.io/descheduler/pkg/framework/plugins/defaultevictor"
	frameworktesting "sigs.k8s.io/descheduler/pkg/framework/testing"
	frameworktypes "sigs.k8s.io/descheduler/pkg/framework/types"

	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
	tensilefake "github.com/tensile-kube/tensile/pkg/generated/clientset/versioned/fake"
	"github.com/tensile-kube/tensile/pkg/placement"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func readyNode(name string, virtual bool) *v1.Node {
	n := &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}},
		Status:     v1.NodeStatus{Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}}},
	}
	if virtual {
		n.Labels[VirtualNodeLabel] = VirtualNodeLabelValue
	}
	return n
}

// stuckPod is a pod on node whose lower cluster reported it unschedulable `for` ago.
func stuckPod(name, node string, unschedulableFor time.Duration, mods ...func(*v1.Pod)) *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "ns", UID: k8stypes.UID("uid-" + name),
			CreationTimestamp: metav1.NewTime(now.Add(-unschedulableFor - time.Second)),
		},
		Spec: v1.PodSpec{NodeName: node, Containers: []v1.Container{{Name: "c", Image: "busybox"}}},
		Status: v1.PodStatus{Phase: v1.PodPending, Conditions: []v1.PodCondition{{
			Type: v1.PodScheduled, Status: v1.ConditionFalse, Reason: v1.PodReasonUnschedulable,
			Message: "0/3 nodes are available", LastTransitionTime: metav1.NewTime(now.Add(-unschedulableFor)),
		}}},
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

// placedPod is a Pending pod on node whose lower cluster placed it `for` ago
// (PodScheduled=True, as the lower scheduler's binding sets it), created an hour ago.
func placedPod(name, node string, placedFor time.Duration, mods ...func(*v1.Pod)) *v1.Pod {
	p := stuckPod(name, node, placedFor, mods...)
	p.CreationTimestamp = metav1.NewTime(now.Add(-time.Hour))
	p.Status.HostIP, p.Status.StartTime = "10.0.0.1", ptr.To(metav1.NewTime(now.Add(-placedFor)))
	p.Status.Conditions[0] = v1.PodCondition{Type: v1.PodScheduled, Status: v1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-placedFor))}
	return p
}

// reason sets the reason of the pod's first condition.
func reason(r string) func(*v1.Pod) {
	return func(p *v1.Pod) { p.Status.Conditions[0].Reason = r }
}

// initRunning gives the pod an init container that is still running.
func initRunning(p *v1.Pod) {
	p.Spec.InitContainers = []v1.Container{{Name: "init", Image: "busybox"}}
	p.Status.InitContainerStatuses = []v1.ContainerStatus{{Name: "init", State: v1.ContainerState{Running: &v1.ContainerStateRunning{}}}}
	p.Status.ContainerStatuses = []v1.ContainerStatus{{Name: "c", State: v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: "PodInitializing"}}}}
}

// pulling leaves the pod's container waiting for its image.
func pulling(p *v1.Pod) {
	p.Status.ContainerStatuses = []v1.ContainerStatus{{Name: "c", State: v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}
}

var rsOwner = metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: "rs-uid", Controller: ptr.To(true)}

func ownedByRS(p *v1.Pod) { p.OwnerReferences = []metav1.OwnerReference{rsOwner} }

func annotated(k, v string) func(*v1.Pod) {
	return func(p *v1.Pod) {
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations[k] = v
	}
}

func record(recreations int, owner metav1.OwnerReference, exclusions ...v1alpha1.NodeExclusion) *v1alpha1.PlacementExclusion {
	r := placement.NewRecord("ns", owner)
	r.UID = "rec-uid"
	r.Spec.Exclusions = exclusions
	r.Annotations = placement.SetRecreations(nil, recreations)
	return r
}

func until(node string, d time.Duration) v1alpha1.NodeExclusion {
	return v1alpha1.NodeExclusion{Node: node, ExpiresAt: metav1.NewTime(now.Add(d))}
}

type pluginCase struct {
	name          string
	pods          []*v1.Pod
	record        *v1alpha1.PlacementExclusion
	lineage       *v1alpha1.PlacementExclusion // a bare pod's lineage record
	args          RecreateUnschedulableArgs
	dryRun        bool
	maxTotal      *uint
	refuseCreate  bool // the API server refuses the replacement (dry-run create fails)
	wantEvicted   []string
	wantCreated   []string
	wantRecord    *v1alpha1.PlacementExclusion // nil: no record must exist
	wantLineage   *placement.Lineage           // of the one created pod; nil: no lineage record for it
	wantReasons   []string
	checkCreated  func(t *testing.T, pods []*v1.Pod)
	skipNoRecords bool
}

// cluster is the fake upper cluster a case runs against.
type cluster struct {
	client  *fake.Clientset
	store   *placement.Client
	events  *fakeEvents
	evicted []string
	created []*v1.Pod
}

func newCluster(t *testing.T, tc pluginCase) *cluster {
	t.Helper()
	var objs []runtime.Object
	for _, p := range tc.pods {
		objs = append(objs, p)
	}
	c := &cluster{client: fake.NewClientset(objs...), events: &fakeEvents{}}
	c.client.PrependReactor("create", "pods", func(a core.Action) (bool, runtime.Object, error) {
		ca := a.(core.CreateActionImpl)
		if a.GetSubresource() == "eviction" {
			ev := ca.GetObject().(interface{ GetName() string })
			c.evicted = append(c.evicted, ev.GetName())
			return true, nil, c.client.Tracker().Delete(a.GetResource(), a.GetNamespace(), ev.GetName())
		}
		pod := ca.GetObject().(*v1.Pod)
		if tc.refuseCreate {
			return true, nil, apierrors.NewForbidden(a.GetResource().GroupResource(), pod.Name, nil)
		}
		if len(ca.CreateOptions.DryRun) > 0 {
			return true, pod, nil // a dry-run create stores nothing
		}
		pod = pod.DeepCopy()
		pod.UID = k8stypes.UID("uid-" + pod.Name) // as the API server would
		c.created = append(c.created, pod)
		return true, pod, c.client.Tracker().Create(a.GetResource(), pod, a.GetNamespace())
	})
	var recs []runtime.Object
	for _, rec := range []*v1alpha1.PlacementExclusion{tc.record, tc.lineage} {
		if rec != nil {
			recs = append(recs, rec)
		}
	}
	cs := tensilefake.NewSimpleClientset(recs...)
	cs.PrependReactor("create", "*", func(a core.Action) (bool, runtime.Object, error) {
		// The fake stores what it is given; give created records a UID as the API
		// server would, so Events can refer to them.
		a.(core.CreateAction).GetObject().(metav1.Object).SetUID("rec-uid")
		return false, nil, nil
	})
	store, err := placement.NewClient(cs)
	if err != nil {
		t.Fatal(err)
	}
	c.store = store
	return c
}

func runPluginCase(t *testing.T, tc pluginCase) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := newCluster(t, tc)
	handle, _, err := frameworktesting.InitFrameworkHandle(ctx, c.client,
		evictions.NewOptions().WithMaxPodsToEvictTotal(tc.maxTotal).WithDryRun(tc.dryRun),
		defaultevictor.DefaultEvictorArgs{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	plugin, err := NewWithOptions(ctx, &tc.args, handle, Options{
		Exclusions: c.store, DryRun: tc.dryRun, Clock: clocktesting.NewFakePassiveClock(now), Events: c.events,
	})
	if err != nil {
		t.Fatal(err)
	}
	nodes := []*v1.Node{readyNode("vk-a", true), readyNode("vk-b", true), readyNode("worker", false)}
	if st := plugin.(frameworktypes.DeschedulePlugin).Deschedule(ctx, nodes); st != nil && st.Err != nil {
		t.Fatalf("Deschedule: %v", st.Err)
	}
	if diff := cmp.Diff(tc.wantEvicted, c.evicted); diff != "" {
		t.Errorf("evicted (-want +got):\n%s", diff)
	}
	var created []string
	for _, p := range c.created {
		created = append(created, p.Name)
	}
	if diff := cmp.Diff(tc.wantCreated, created); diff != "" {
		t.Errorf("created (-want +got):\n%s", diff)
	}
	if tc.checkCreated != nil {
		tc.checkCreated(t, c.created)
	}
	checkRecord(ctx, t, c.store, tc.wantRecord)
	checkLineage(ctx, t, c.store, c.created, tc.wantLineage)
	checkReasons(t, c.events.reasons, tc.wantReasons)
}

func checkRecord(ctx context.Context, t *testing.T, store *placement.Client, want *v1alpha1.PlacementExclusion) {
	t.Helper()
	got, err := store.Get(ctx, "ns", placement.RecordName(rsOwner.Kind, rsOwner.Name))
	if want == nil {
		if !apierrors.IsNotFound(err) {
			t.Errorf("unexpected record %+v (err %v)", got, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("record: %v", err)
	}
	if diff := cmp.Diff(want.Spec, got.Spec); diff != "" {
		t.Errorf("record spec (-want +got):\n%s", diff)
	}
	if w, g := placement.Recreations(want.Annotations), placement.Recreations(got.Annotations); w != g {
		t.Errorf("record count %d, want %d", g, w)
	}
	if len(got.OwnerReferences) != 1 || got.OwnerReferences[0].UID != rsOwner.UID {
		t.Errorf("record owner references %+v", got.OwnerReferences)
	}
}

// checkLineage checks the lineage record of the one pod created, or that none was
// written when want is nil.
func checkLineage(ctx context.Context, t *testing.T, store *placement.Client, created []*v1.Pod, want *placement.Lineage) {
	t.Helper()
	if want == nil {
		for _, p := range created {
			if _, err := store.Get(ctx, "ns", placement.LineageRecordName(p.UID)); !apierrors.IsNotFound(err) {
				t.Errorf("unexpected lineage record of %s (err %v)", p.Name, err)
			}
		}
		return
	}
	if len(created) != 1 {
		t.Fatalf("want one pod created, got %d", len(created))
	}
	rec, err := store.Get(ctx, "ns", placement.LineageRecordName(created[0].UID))
	if err != nil {
		t.Fatalf("lineage record of %s: %v", created[0].Name, err)
	}
	got, ok := placement.LineageOf(rec, created[0])
	if !ok {
		t.Fatalf("record %+v is not the lineage of %s", rec, created[0].Name)
	}
	if diff := cmp.Diff(*want, got); diff != "" {
		t.Errorf("lineage (-want +got):\n%s", diff)
	}
	if len(rec.OwnerReferences) != 1 || rec.OwnerReferences[0].UID != created[0].UID || rec.OwnerReferences[0].Kind != "Pod" {
		t.Errorf("lineage record owner references %+v, want the pod %s", rec.OwnerReferences, created[0].Name)
	}
}

// lineageRecord is the lineage record of the stuckPod named pod.
func lineageRecord(pod string, l placement.Lineage) *v1alpha1.PlacementExclusion {
	return placement.NewLineageRecord(stuckPod(pod, "vk-a", 0), l)
}

// fakeEvents is an EventSink keeping the reasons it was given.
type fakeEvents struct{ reasons []string }

func (f *fakeEvents) Event(regarding, _ *v1.ObjectReference, _, reason, _ string) {
	if regarding == nil || regarding.Name == "" {
		panic("Event without a regarding object")
	}
	f.reasons = append(f.reasons, reason)
}

func checkReasons(t *testing.T, got, want []string) {
	t.Helper()
	got, want = slices.Clone(got), slices.Clone(want)
	slices.Sort(got)
	slices.Sort(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("event reasons (-want +got):\n%s", diff)
	}
}

func TestDeschedule(t *testing.T) {
	ttl := DefaultExclusionTTL
	for _, tc := range []pluginCase{
		{name: "owned pod past the grace period: exclusion recorded, pod evicted",
			pods:        []*v1.Pod{stuckPod("p1", "vk-a", 5*time.Minute, ownedByRS)},
			wantEvicted: []string{"p1"},
			wantRecord:  record(1, rsOwner, until("vk-a", ttl)),
			wantReasons: []string{ReasonExcluded, ReasonExcluded}},
		{name: "within the grace period: left alone",
			pods: []*v1.Pod{stuckPod("p1", "vk-a", time.Minute, ownedByRS)}},
		{name: "placed below but Pending past maxPendingTime: left alone",
			pods: []*v1.Pod{
				placedPod("init", "vk-a", time.Hour, ownedByRS, initRunning),
				placedPod("pull", "vk-a", time.Hour, ownedByRS, pulling),
				placedPod("solo", "vk-b", time.Hour),
			}},
		{name: "status not mirrored yet, created long ago: left alone",
			pods: []*v1.Pod{stuckPod("p1", "vk-a", 0, ownedByRS, func(p *v1.Pod) {
				p.Status.Conditions = nil
				p.CreationTimestamp = metav1.NewTime(now.Add(-time.Hour))
			})}},
		{name: "not placed below (gated) past maxPendingTime: moved",
			pods:        []*v1.Pod{stuckPod("p1", "vk-a", time.Hour, ownedByRS, reason("SchedulingGated"))},
			wantEvicted: []string{"p1"}, wantRecord: record(1, rsOwner, until("vk-a", ttl)),
			wantReasons: []string{ReasonExcluded, ReasonExcluded}},
		{name: "of a placed pod and an unschedulable one, only the unschedulable one moves",
			pods: []*v1.Pod{
				placedPod("placed", "vk-a", time.Hour),
				stuckPod("stuck", "vk-a", 5*time.Minute),
			},
			wantEvicted: []string{"stuck"}, wantCreated: []string{"stuck-r1"},
			wantLineage: &placement.Lineage{Original: "stuck", Recreations: 1, Exclusions: []v1alpha1.NodeExclusion{until("vk-a", ttl)}},
			wantReasons: []string{ReasonRecreated, ReasonRecreateFrom}},
		{name: "pods of ordinary nodes and running pods are ignored",
			pods: []*v1.Pod{
				stuckPod("on-worker", "worker", time.Hour, ownedByRS),
				stuckPod("running", "vk-a", time.Hour, ownedByRS, func(p *v1.Pod) { p.Status.Phase = v1.PodRunning }),
			}},
		{name: "owned pod whose node is already excluded: evicted, count unchanged",
			pods:        []*v1.Pod{stuckPod("p1", "vk-a", time.Hour, ownedByRS)},
			record:      record(3, rsOwner, until("vk-a", time.Minute)),
			wantEvicted: []string{"p1"}, wantRecord: record(3, rsOwner, until("vk-a", ttl)),
			wantReasons: []string{ReasonExcluded, ReasonExcluded}},
		{name: "owned pod past the cap: left alone with an Event",
			pods:        []*v1.Pod{stuckPod("p1", "vk-a", time.Hour, ownedByRS)},
			record:      record(3, rsOwner, until("vk-b", time.Minute)),
			wantRecord:  record(3, rsOwner, until("vk-b", time.Minute)),
			wantReasons: []string{ReasonCapReached, ReasonCapReached}},
		{name: "expired exclusions are pruned and the node counts again",
			pods:        []*v1.Pod{stuckPod("p1", "vk-a", time.Hour, ownedByRS)},
			record:      record(1, rsOwner, until("vk-a", -time.Minute), until("vk-b", -time.Second)),
			wantEvicted: []string{"p1"}, wantRecord: record(2, rsOwner, until("vk-a", ttl)),
			wantReasons: []string{ReasonExcluded, ReasonExcluded}},
		{name: "a record of an earlier controller of the same name starts afresh",
			pods:        []*v1.Pod{stuckPod("p1", "vk-a", time.Hour, ownedByRS)},
			record:      record(3, metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: "old"}, until("vk-b", time.Hour)),
			wantEvicted: []string{"p1"}, wantRecord: record(1, rsOwner, until("vk-a", ttl)),
			wantReasons: []string{ReasonExcluded, ReasonExcluded}},
		{name: "bare pod is re-created with the exclusion, counted in a record owned by the replacement",
			pods:        []*v1.Pod{stuckPod("solo", "vk-a", time.Hour)},
			wantEvicted: []string{"solo"}, wantCreated: []string{"solo-r1"},
			wantLineage: &placement.Lineage{Original: "solo", Recreations: 1, Exclusions: []v1alpha1.NodeExclusion{until("vk-a", ttl)}},
			wantReasons: []string{ReasonRecreated, ReasonRecreateFrom},
			checkCreated: func(t *testing.T, pods []*v1.Pod) {
				p := pods[0]
				if p.Spec.NodeName != "" || p.Annotations[placement.RecreationsAnnotation] != "" || p.Annotations[OriginalNameAnnotation] != "" {
					t.Errorf("replacement %s: nodeName %q annotations %v", p.Name, p.Spec.NodeName, p.Annotations)
				}
				if got := placement.ExcludedNodes(p.Spec.Affinity); !slices.Equal(got, []string{"vk-a"}) {
					t.Errorf("replacement excludes %v", got)
				}
			}},
		{name: "a replacement continues its record's lineage, whatever its annotations say",
			pods: []*v1.Pod{stuckPod("solo-r1", "vk-b", time.Hour,
				annotated(placement.RecreationsAnnotation, "0"), annotated(OriginalNameAnnotation, "victim"))},
			lineage:     lineageRecord("solo-r1", placement.Lineage{Original: "solo", Recreations: 1, Exclusions: []v1alpha1.NodeExclusion{until("vk-a", time.Minute)}}),
			wantEvicted: []string{"solo-r1"}, wantCreated: []string{"solo-r2"},
			wantLineage: &placement.Lineage{Original: "solo", Recreations: 2, Exclusions: []v1alpha1.NodeExclusion{until("vk-a", time.Minute), until("vk-b", ttl)}},
			wantReasons: []string{ReasonRecreated, ReasonRecreateFrom}},
		{name: "bare pod at the cap in its record, its annotation reset: left alone with an Event",
			pods:        []*v1.Pod{stuckPod("solo-r3", "vk-a", time.Hour, annotated(placement.RecreationsAnnotation, "0"))},
			lineage:     lineageRecord("solo-r3", placement.Lineage{Original: "solo", Recreations: 3}),
			wantReasons: []string{ReasonCapReached}},
		{name: "bare pod at the cap in its record, its annotation deleted: left alone with an Event",
			pods:        []*v1.Pod{stuckPod("solo-r3", "vk-a", time.Hour)},
			lineage:     lineageRecord("solo-r3", placement.Lineage{Original: "solo", Recreations: 3}),
			wantReasons: []string{ReasonCapReached}},
		{name: "a record made for another pod of that name is not this pod's lineage",
			pods: []*v1.Pod{stuckPod("solo", "vk-a", time.Hour)},
			lineage: func() *v1alpha1.PlacementExclusion {
				r := lineageRecord("solo", placement.Lineage{Original: "victim", Recreations: 3})
				r.Spec.Owner.Name = "other"
				return r
			}(),
			wantEvicted: []string{"solo"}, wantCreated: []string{"solo-r1"},
			wantLineage: &placement.Lineage{Original: "solo", Recreations: 1, Exclusions: []v1alpha1.NodeExclusion{until("vk-a", ttl)}},
			wantReasons: []string{ReasonRecreated, ReasonRecreateFrom}},
		{name: "bare pod re-created before records existed: its annotations continue, consistent with its name",
			pods: []*v1.Pod{stuckPod("solo-r3", "vk-a", time.Hour,
				annotated(placement.RecreationsAnnotation, "3"), annotated(OriginalNameAnnotation, "solo"))},
			wantReasons: []string{ReasonCapReached}},
		{name: "legacy pod one below the cap: next name from its original",
			pods: []*v1.Pod{stuckPod("solo-r2", "vk-a", time.Hour,
				annotated(placement.RecreationsAnnotation, "2"), annotated(OriginalNameAnnotation, "solo"))},
			wantEvicted: []string{"solo-r2"}, wantCreated: []string{"solo-r3"},
			wantLineage: &placement.Lineage{Original: "solo", Recreations: 3, Exclusions: []v1alpha1.NodeExclusion{until("vk-a", ttl)}},
			wantReasons: []string{ReasonRecreated, ReasonRecreateFrom}},
		{name: "original-name naming another pod is ignored with an Event",
			pods: []*v1.Pod{stuckPod("mine", "vk-a", time.Hour,
				annotated(placement.RecreationsAnnotation, "1"), annotated(OriginalNameAnnotation, "victim"))},
			wantEvicted: []string{"mine"}, wantCreated: []string{"mine-r2"},
			wantLineage: &placement.Lineage{Original: "mine", Recreations: 2, Exclusions: []v1alpha1.NodeExclusion{until("vk-a", ttl)}},
			wantReasons: []string{ReasonAnnotationIgnored, ReasonRecreated, ReasonRecreateFrom}},
		{name: "original-name without a count is ignored too",
			pods:        []*v1.Pod{stuckPod("victim-r1", "vk-a", time.Hour, annotated(OriginalNameAnnotation, "victim"))},
			wantEvicted: []string{"victim-r1"}, wantCreated: []string{"victim-r1-r1"},
			wantLineage: &placement.Lineage{Original: "victim-r1", Recreations: 1, Exclusions: []v1alpha1.NodeExclusion{until("vk-a", ttl)}},
			wantReasons: []string{ReasonAnnotationIgnored, ReasonRecreated, ReasonRecreateFrom}},
		{name: "bare pod whose replacement would be refused is not evicted",
			pods:         []*v1.Pod{stuckPod("solo", "vk-a", time.Hour)},
			refuseCreate: true,
			wantReasons:  []string{ReasonFailed}},
		{name: "dry run changes nothing and records no Event",
			dryRun: true,
			pods: []*v1.Pod{
				stuckPod("p1", "vk-a", time.Hour, ownedByRS),
				stuckPod("solo", "vk-b", time.Hour),
			},
			// The descheduler's evictor sends dry-run evictions to its sandbox client,
			// which is this fake here.
			wantEvicted: []string{"p1", "solo"}},
		{name: "the total eviction limit stops the cycle, oldest first",
			maxTotal: ptr.To[uint](1),
			pods: []*v1.Pod{
				stuckPod("young", "vk-a", 10*time.Minute, ownedByRS),
				stuckPod("old", "vk-b", time.Hour, ownedByRS),
			},
			wantEvicted: []string{"old"}, wantRecord: record(2, rsOwner, until("vk-a", ttl), until("vk-b", ttl)),
			wantReasons: []string{ReasonExcluded, ReasonExcluded}},
		{name: "namespaces outside the args are ignored",
			args: RecreateUnschedulableArgs{Namespaces: &api.Namespaces{Exclude: []string{"ns"}}},
			pods: []*v1.Pod{stuckPod("p1", "vk-a", time.Hour, ownedByRS)}},
	} {
		t.Run(tc.name, func(t *testing.T) { runPluginCase(t, tc) })
	}
}

func TestNewRejectsWrongArgs(t *testing.T) {
	ctx := context.Background()
	if _, err := New(ctx, &defaultevictor.DefaultEvictorArgs{}, nil); err == nil {
		t.Error("foreign args accepted")
	}
	bad := &RecreateUnschedulableArgs{MaxRecreations: ptr.To[int32](0)}
	handle, _, err := frameworktesting.InitFrameworkHandle(ctx, fake.NewClientset(), evictions.NewOptions(), defaultevictor.DefaultEvictorArgs{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(ctx, bad, handle); err == nil {
		t.Error("invalid args accepted")
	}
}
