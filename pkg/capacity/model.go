package capacity

import (
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
)

// Options configure a Model. The zero value is usable: every field has a default.
type Options struct {
	// IsOwn reports whether a lower pod was created by this virtual node. The upper
	// scheduler already counts those against the virtual node, so Aggregate does not
	// subtract them again. Nil means no pod is ours.
	IsOwn func(*corev1.Pod) bool
	// Labels decides which node labels take part in grouping. Nil means
	// DefaultLabelPolicy.
	Labels *LabelPolicy
	// SlotsPerGroup bounds the free slots kept per group in the summary (default 8).
	SlotsPerGroup int
	// MaxGroups bounds the number of groups in the summary (default 64); the smallest
	// groups beyond it are folded into one merged group.
	MaxGroups int
}

// Defaults for Options.
const (
	DefaultSlotsPerGroup = 8
	DefaultMaxGroups     = 64
)

// Model is an incremental picture of one lower cluster's nodes and of the pods bound
// to them. Each informer event costs O(1) map updates in the affected group; nothing is
// ever re-listed. All methods are safe for concurrent use.
type Model struct {
	isOwn     func(*corev1.Pod) bool
	policy    LabelPolicy
	slots     int
	maxGroups int

	mu       sync.RWMutex
	existing int // nodes the informer has delivered and not deleted
	nodes    map[string]*nodeState
	pods     map[types.NamespacedName]*podState
	groups   map[string]*group
	// Sums over eligible (Ready, schedulable) nodes.
	eligible  int
	alloc     Vector
	requested Vector
	foreign   Vector

	subsMu sync.Mutex
	subs   []chan struct{}
}

// nodeState is what the model keeps of one lower node. A placeholder (exists false)
// holds the pods of a node the informer has not delivered yet, or has deleted while
// pods remain, so that pod and node events may arrive in any order.
type nodeState struct {
	name          string
	exists        bool
	groupKey      string
	keptLabels    map[string]string
	taints        []corev1.Taint
	alloc         Vector
	requested     Vector // every non-terminal pod bound here
	foreign       Vector // the subset from pods that are not ours
	ready         bool
	unschedulable bool
	npods         int
	group         *group
}

func (n *nodeState) eligible() bool { return n.exists && n.ready && !n.unschedulable }

// free returns allocatable minus requested.
func (n *nodeState) free() Vector {
	f := n.alloc.Clone()
	f.Sub(n.requested)
	return f
}

type podState struct {
	node       string
	req        Vector
	own        bool
	generation int64
}

// group is the set of eligible nodes with one (kept labels, taints) combination, by
// node name. buildGroup does not depend on their order.
type group struct {
	key     string
	labels  map[string]string
	taints  []corev1.Taint
	members map[string]*nodeState
	dirty   bool
	built   v1alpha1.NodeGroup
}

// NewModel returns an empty model.
func NewModel(opts Options) *Model {
	m := &Model{
		isOwn:     opts.IsOwn,
		policy:    DefaultLabelPolicy(),
		slots:     opts.SlotsPerGroup,
		maxGroups: opts.MaxGroups,
		nodes:     map[string]*nodeState{},
		pods:      map[types.NamespacedName]*podState{},
		groups:    map[string]*group{},
	}
	if opts.Labels != nil {
		m.policy = *opts.Labels
	}
	if m.slots <= 0 {
		m.slots = DefaultSlotsPerGroup
	}
	if m.maxGroups <= 0 {
		m.maxGroups = DefaultMaxGroups
	}
	if m.isOwn == nil {
		m.isOwn = func(*corev1.Pod) bool { return false }
	}
	return m
}

// Subscribe returns a new channel that receives after the model changes. Signals are
// coalesced: one pending signal stands for any number of changes, so a slow reader
// never blocks the informers. Each consumer (the publisher, the virtual node's status
// updater) subscribes once.
func (m *Model) Subscribe() <-chan struct{} {
	ch := make(chan struct{}, 1)
	m.subsMu.Lock()
	m.subs = append(m.subs, ch)
	m.subsMu.Unlock()
	return ch
}

func (m *Model) notify() {
	m.subsMu.Lock()
	defer m.subsMu.Unlock()
	for _, ch := range m.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// LabelPolicy returns the policy the model groups nodes by.
func (m *Model) LabelPolicy() LabelPolicy { return m.policy }

// SetNode adds or updates a lower node.
func (m *Model) SetNode(node *corev1.Node) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.nodes[node.Name]
	if n == nil {
		n = &nodeState{name: node.Name}
		m.nodes[node.Name] = n
	}
	m.detach(n)
	if !n.exists {
		m.existing++
	}
	n.exists = true
	n.alloc = VectorFromList(node.Status.Allocatable)
	n.ready = nodeReady(node)
	n.unschedulable = node.Spec.Unschedulable
	n.keptLabels = m.policy.keep(node.Labels)
	n.taints = schedulingTaints(node.Spec.Taints)
	n.groupKey = groupKey(n.keptLabels, n.taints)
	m.attach(n)
	m.notify()
}

// DeleteNode removes a lower node. Pods still bound to it stop counting anywhere.
func (m *Model) DeleteNode(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.nodes[name]
	if n == nil || !n.exists {
		return
	}
	m.detach(n)
	m.existing--
	n.exists = false
	if n.npods == 0 {
		delete(m.nodes, name)
	}
	m.notify()
}

// SetPod adds or updates a lower pod. Only pods bound to a node and not terminal hold
// resources.
func (m *Model) SetPod(pod *corev1.Pod) {
	key := types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}
	counted := pod.Spec.NodeName != "" && !isTerminal(pod)
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.pods[key]
	if !counted {
		if old != nil {
			m.unbind(key, old)
			m.notify()
		}
		return
	}
	own := m.isOwn(pod)
	if old != nil && old.node == pod.Spec.NodeName && old.own == own && pod.Generation > 0 && old.generation == pod.Generation {
		return // a status update: nothing the model keeps has changed
	}
	next := &podState{node: pod.Spec.NodeName, req: PodRequests(pod), own: own, generation: pod.Generation}
	if old != nil {
		m.unbind(key, old)
	}
	m.bind(key, next)
	m.notify()
}

// DeletePod removes a lower pod.
func (m *Model) DeletePod(namespace, name string) {
	key := types.NamespacedName{Namespace: namespace, Name: name}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old := m.pods[key]; old != nil {
		m.unbind(key, old)
		m.notify()
	}
}

func (m *Model) bind(key types.NamespacedName, p *podState) {
	n := m.nodes[p.node]
	if n == nil {
		n = &nodeState{name: p.node}
		m.nodes[p.node] = n
	}
	m.detach(n)
	n.requested.Add(p.req)
	if !p.own {
		n.foreign.Add(p.req)
	}
	n.npods++
	m.attach(n)
	m.pods[key] = p
}

func (m *Model) unbind(key types.NamespacedName, p *podState) {
	delete(m.pods, key)
	n := m.nodes[p.node]
	if n == nil {
		return
	}
	m.detach(n)
	n.requested.Sub(p.req)
	if !p.own {
		n.foreign.Sub(p.req)
	}
	n.npods--
	m.attach(n)
	if !n.exists && n.npods == 0 {
		delete(m.nodes, n.name)
	}
}

// detach takes n out of its group and of the sums, before any field they depend on
// changes.
func (m *Model) detach(n *nodeState) {
	g := n.group
	if g == nil {
		return
	}
	delete(g.members, n.name)
	g.dirty = true
	n.group = nil
	m.eligible--
	m.alloc.Sub(n.alloc)
	m.requested.Sub(n.requested)
	m.foreign.Sub(n.foreign)
	if len(g.members) == 0 {
		delete(m.groups, g.key)
	}
}

// attach puts an eligible n back into its group and the sums.
func (m *Model) attach(n *nodeState) {
	if !n.eligible() {
		return
	}
	g := m.groups[n.groupKey]
	if g == nil {
		g = &group{key: n.groupKey, labels: n.keptLabels, taints: n.taints, members: map[string]*nodeState{}}
		m.groups[n.groupKey] = g
	}
	g.members[n.name] = n
	g.dirty = true
	n.group = g
	m.eligible++
	m.alloc.Add(n.alloc)
	m.requested.Add(n.requested)
	m.foreign.Add(n.foreign)
}

// Aggregate is what the virtual node advertises for the lower cluster.
type Aggregate struct {
	// Allocatable is the sum of the eligible nodes' allocatable minus the requests of
	// the pods on them that are not ours, floored at zero. Use it as the virtual node's
	// capacity and allocatable.
	Allocatable corev1.ResourceList
	// Nodes is the number of lower nodes known; EligibleNodes of them are Ready and
	// schedulable.
	Nodes, EligibleNodes int
}

// Aggregate returns the virtual node's capacity.
func (m *Model) Aggregate() Aggregate {
	m.mu.RLock()
	defer m.mu.RUnlock()
	v := m.alloc.Clone()
	v.Sub(m.foreign)
	return Aggregate{Allocatable: v.List(), Nodes: m.existing, EligibleNodes: m.eligible}
}
