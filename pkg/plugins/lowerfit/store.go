package lowerfit

import (
	"maps"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tensile-kube/tensile/pkg/capacity"
)

// settle is the margin by which a summary must postdate a pod's placement below
// before the summary is trusted to count the pod: condition times have a resolution
// of one second.
const settle = time.Second

// view is an immutable picture of every virtual node's capacity as the plugin sees it:
// each published summary minus the pods the plugin placed there that the summary does
// not count yet. A scheduling cycle reads one view from PreFilter to Reserve.
type view struct {
	// nodes maps a virtual node name to its effective index.
	nodes map[string]*capacity.Index
	// policies are the distinct label policies of the summaries, to prepare queries.
	policies []capacity.LabelPolicy
	// policyIDs joins the policies' IDs: part of the key of an interned query.
	policyIDs string
}

func (v *view) isVirtualName(name string) bool {
	_, ok := v.nodes[name]
	return ok
}

// reservation is capacity charged for a pod placed on a virtual node that no summary
// counts yet.
type reservation struct {
	pod   types.NamespacedName
	node  string
	query *capacity.Query
	at    time.Time
	// placedAt is when the pod was scheduled in the lower cluster, as its reflected
	// PodScheduled condition says; zero until the pod shows it reached the lower
	// cluster.
	placedAt time.Time
}

// store holds the published summaries and the reservations, and derives views.
// Every mutation rebuilds the affected node's effective index and swaps in a new view
// (copy on write), so readers take a view in O(1) and never lock again.
type store struct {
	ttl time.Duration
	now func() time.Time

	mu        sync.Mutex
	summaries map[string]*capacity.Index
	// deleted holds the build time of each deleted summary, so that a late copy of
	// it cannot bring it back.
	deleted map[string]time.Time
	// newest is the time of the newest reservation charged on each node.
	newest  map[string]time.Time
	byPod   map[types.UID]*reservation
	byNode  map[string]map[types.UID]*reservation
	current *view
}

func newStore(ttl time.Duration, now func() time.Time) *store {
	return &store{
		ttl: ttl, now: now,
		summaries: map[string]*capacity.Index{},
		deleted:   map[string]time.Time{},
		newest:    map[string]time.Time{},
		byPod:     map[types.UID]*reservation{},
		byNode:    map[string]map[types.UID]*reservation{},
		current:   &view{nodes: map[string]*capacity.Index{}},
	}
}

// snapshot returns the current view.
func (s *store) snapshot() *view {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current
}

// setSummary records a new summary for a virtual node and releases the reservations
// it now accounts for. It reports whether it did: a summary no newer than the one
// held (or last deleted) is ignored, so that a late copy cannot take the view back in
// time.
func (s *store) setSummary(ix *capacity.Index) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.newerLocked(ix.VirtualNode, ix.UpdateTime, ix.ContentHash) {
		return false
	}
	delete(s.deleted, ix.VirtualNode)
	s.summaries[ix.VirtualNode] = ix
	for uid, r := range s.byNode[ix.VirtualNode] {
		if countedBy(r, ix) {
			s.drop(uid)
		}
	}
	s.rebuild(ix.VirtualNode, true)
	return true
}

// sameContent returns the summary held for node if its content hash is hash.
func (s *store) sameContent(node, hash string) *capacity.Index {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.summaries[node]; cur != nil && hash != "" && cur.ContentHash == hash {
		return cur
	}
	return nil
}

// updatedAt returns the build time of the summary held for node, if any.
func (s *store) updatedAt(node string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.summaries[node]; cur != nil {
		return cur.UpdateTime, true
	}
	return time.Time{}, false
}

// heartbeat applies a summary of node built at updated whose content hash equals the
// held summary's: the compiled index, its admission cache and the policy list stay;
// only the build time moves, and the reservations it now counts are released. It
// reports false, leaving the store alone, when the store holds no summary with that
// content, and the caller must compile the object. Heartbeats are most summary
// updates (every 10 s per virtual node), so this spares each one a decode, a compile
// and a replay of the node's reservations.
func (s *store) heartbeat(node string, updated time.Time, hash string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.summaries[node]
	if cur == nil || hash == "" || hash != cur.ContentHash {
		return false
	}
	if !updated.After(cur.UpdateTime) {
		return true // the same or an older copy: nothing to do
	}
	next := cur.WithUpdateTime(updated)
	s.summaries[node] = next
	released := false
	for uid, r := range s.byNode[node] {
		if countedBy(r, next) {
			s.drop(uid)
			released = true
		}
	}
	eff, ok := s.current.nodes[node]
	if released || !ok {
		s.rebuild(node, false)
		return true
	}
	v := &view{nodes: maps.Clone(s.current.nodes), policies: s.current.policies, policyIDs: s.current.policyIDs}
	v.nodes[node] = eff.WithUpdateTime(updated)
	s.current = v
	return true
}

// newerLocked reports whether a summary of node built at updated with content hash is
// newer than the one the store holds or last deleted.
func (s *store) newerLocked(node string, updated time.Time, hash string) bool {
	if at, ok := s.deleted[node]; ok && !updated.After(at) {
		return false
	}
	cur := s.summaries[node]
	return cur == nil || updated.After(cur.UpdateTime) || (updated.Equal(cur.UpdateTime) && hash != cur.ContentHash)
}

// deleteSummary forgets a virtual node's summary.
func (s *store) deleteSummary(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.summaries[name]; cur != nil {
		s.deleted[name] = cur.UpdateTime
	}
	delete(s.summaries, name)
	s.rebuild(name, true)
}

// reserve charges q's pod against node.
func (s *store) reserve(uid types.UID, pod types.NamespacedName, node string, q *capacity.Query) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.byPod[uid]; old != nil {
		s.drop(uid)
		s.rebuild(old.node, false)
	}
	r := &reservation{pod: pod, node: node, query: q, at: s.now()}
	s.byPod[uid] = r
	if s.byNode[node] == nil {
		s.byNode[node] = map[types.UID]*reservation{}
	}
	s.byNode[node][uid] = r
	// The newest reservation is charged last: charging it on top of the current view
	// gives what a rebuild would, in O(1) rather than O(reservations) per pod.
	cur, ok := s.current.nodes[node]
	if !ok || r.at.Before(s.newest[node]) {
		s.rebuild(node, false)
		return
	}
	s.newest[node] = r.at
	next := &view{nodes: maps.Clone(s.current.nodes), policies: s.current.policies, policyIDs: s.current.policyIDs}
	next.nodes[node], _ = cur.Charge(q)
	s.current = next
}

// release drops the pod's reservation, if any. It is idempotent.
func (s *store) release(uid types.UID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.byPod[uid]; r != nil {
		s.drop(uid)
		s.rebuild(r.node, false)
	}
}

// observePod applies what the upper pod's status says about its reservation.
func (s *store) observePod(pod *corev1.Pod) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.byPod[pod.UID]
	if r == nil {
		return
	}
	switch outcome, placedAt := podOutcome(pod, r.node); outcome {
	case outcomeGone:
		s.drop(pod.UID)
		s.rebuild(r.node, false)
	case outcomePlaced:
		switch {
		case r.placedAt.IsZero() && placedAt.IsZero(): // no transition time reflected: first sighting
			r.placedAt = s.now()
		case placedAt.After(r.placedAt):
			r.placedAt = placedAt
		}
		if ix := s.summaries[r.node]; ix != nil && countedBy(r, ix) {
			s.drop(pod.UID)
			s.rebuild(r.node, false)
		}
	}
}

// expire drops reservations older than the TTL, the safety net for pods whose fate
// the plugin never learns.
func (s *store) expire() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	cutoff := s.now().Add(-s.ttl)
	touched := map[string]bool{}
	for uid, r := range s.byPod {
		if r.at.Before(cutoff) {
			s.drop(uid)
			touched[r.node] = true
		}
	}
	for node := range touched {
		s.rebuild(node, false)
	}
	return len(touched)
}

// countedBy reports whether summary ix was built after the reserved pod was placed
// in the lower cluster, so that it counts the pod's requests itself.
func countedBy(r *reservation, ix *capacity.Index) bool {
	return !r.placedAt.IsZero() && ix.UpdateTime.After(r.placedAt.Add(settle))
}

// drop removes a reservation from the indexes; the caller rebuilds.
func (s *store) drop(uid types.UID) {
	r := s.byPod[uid]
	delete(s.byPod, uid)
	if m := s.byNode[r.node]; m != nil {
		delete(m, uid)
		if len(m) == 0 {
			delete(s.byNode, r.node)
		}
	}
}

// rebuild recomputes node's effective index (its summary charged with its
// reservations, oldest first) and publishes a new view. policiesChanged asks for the
// policy list to be recomputed too.
func (s *store) rebuild(node string, policiesChanged bool) {
	next := &view{nodes: maps.Clone(s.current.nodes), policies: s.current.policies, policyIDs: s.current.policyIDs}
	if ix := s.summaries[node]; ix == nil {
		delete(next.nodes, node)
	} else {
		rs := make([]*reservation, 0, len(s.byNode[node]))
		for _, r := range s.byNode[node] {
			rs = append(rs, r)
		}
		sort.Slice(rs, func(i, j int) bool { return rs[i].at.Before(rs[j].at) })
		for _, r := range rs {
			ix, _ = ix.Charge(r.query)
		}
		if len(rs) > 0 {
			s.newest[node] = rs[len(rs)-1].at
		}
		next.nodes[node] = ix
	}
	if policiesChanged {
		next.policies = distinctPolicies(s.summaries)
		ids := make([]string, len(next.policies))
		for i, p := range next.policies {
			ids[i] = p.ID()
		}
		next.policyIDs = strings.Join(ids, ";")
	}
	s.current = next
}

func distinctPolicies(summaries map[string]*capacity.Index) []capacity.LabelPolicy {
	seen := map[string]bool{}
	var out []capacity.LabelPolicy
	for _, ix := range summaries {
		p := ix.LabelPolicy()
		key := p.ID()
		if !seen[key] {
			seen[key] = true
			out = append(out, p)
		}
	}
	return out
}

// outcome is what an upper pod's status says about its reservation.
type outcome int

const (
	// outcomePending: nothing known yet; keep the reservation.
	outcomePending outcome = iota
	// outcomeGone: the pod holds no lower capacity (finished, unschedulable below, or
	// not on this node); release now.
	outcomeGone
	// outcomePlaced: the pod is scheduled in the lower cluster; release once a summary
	// newer than its placement arrives.
	outcomePlaced
)

// podOutcome reads the reflected status of an upper pod reserved on node. The virtual
// node reflects the lower pod's status: PodScheduled=False/Unschedulable means the
// lower scheduler could not place it; PodScheduled=True together with a host IP or a
// phase past Pending means it is on a lower node. (PodScheduled=True alone may still be
// the upper binding's own condition.)
func podOutcome(pod *corev1.Pod, node string) (outcome, time.Time) {
	if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return outcomeGone, time.Time{}
	}
	if pod.Spec.NodeName != "" && pod.Spec.NodeName != node {
		return outcomeGone, time.Time{}
	}
	for _, c := range pod.Status.Conditions {
		if c.Type != corev1.PodScheduled {
			continue
		}
		if c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return outcomeGone, time.Time{}
		}
		if c.Status == corev1.ConditionTrue && (pod.Status.HostIP != "" || pod.Status.Phase == corev1.PodRunning) {
			return outcomePlaced, c.LastTransitionTime.Time
		}
	}
	return outcomePending, time.Time{}
}
