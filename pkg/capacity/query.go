package capacity

import (
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	v1helper "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"

	"github.com/tensile-kube/tensile/pkg/constraints"
	"github.com/tensile-kube/tensile/pkg/vnodeident"
)

// Query is the fit question for one pod, compiled once: its requests and its
// lower-cluster constraints with their node-affinity matchers. Call Prepare for every
// label policy it will meet before sharing it between goroutines.
type Query struct {
	// Requests is what the pod asks of one node.
	Requests Vector
	// Constraints are the pod's lower-cluster constraints.
	Constraints *constraints.Constraints

	relaxed map[string]relaxedMatcher
}

// relaxedMatcher is the query's node selector and affinity for one label policy, and
// the key of the admission cache (Index.admissions) for it.
type relaxedMatcher struct {
	match nodeaffinity.RequiredNodeAffinity
	// key is the canonical form of everything a group's admission depends on: the
	// relaxed selector and affinity and the tolerations. Pods with equal keys get
	// equal admissions from any group; "" means the answer is not cached.
	key string
}

// NewQuery compiles the question "can a lower node take a pod with these requests and
// constraints?". A nil c constrains nothing.
func NewQuery(requests Vector, c *constraints.Constraints) *Query {
	if c == nil {
		c = &constraints.Constraints{}
	}
	return &Query{Requests: requests, Constraints: c, relaxed: map[string]relaxedMatcher{}}
}

// QueryForPod builds the query for pod with constraints.Lower: the node constraints
// its lower pod will carry, by the rule the virtual node follows when it creates it.
func QueryForPod(pod *corev1.Pod, id vnodeident.Identity) (*Query, error) {
	c, err := constraints.Lower(pod, id)
	if err != nil {
		return nil, fmt.Errorf("reading lower constraints: %w", err)
	}
	return NewQuery(PodRequests(pod), c), nil
}

// Prepare compiles the relaxed matchers for the given label policies, so that later
// concurrent reads allocate nothing and race with nothing.
func (q *Query) Prepare(policies ...LabelPolicy) {
	for _, p := range policies {
		id := p.ID()
		if _, ok := q.relaxed[id]; !ok {
			q.relaxed[id] = q.compileRelaxed(p)
		}
	}
}

func (q *Query) compileRelaxed(p LabelPolicy) relaxedMatcher {
	sel, aff := relaxForSummary(q.Constraints, p)
	return relaxedMatcher{match: newMatcher(sel, aff), key: admissionKey(sel, aff, q.Constraints.Tolerations)}
}

// admissionKey encodes what a group's admission depends on as JSON, whose map keys
// are sorted. It is "" (no caching) in the unlikely case that encoding fails.
func admissionKey(sel map[string]string, aff *corev1.NodeSelector, tolerations []corev1.Toleration) string {
	raw, err := json.Marshal(struct {
		S map[string]string    `json:"s,omitempty"`
		A *corev1.NodeSelector `json:"a,omitempty"`
		T []corev1.Toleration  `json:"t,omitempty"`
	}{sel, aff, tolerations})
	if err != nil {
		return ""
	}
	return string(raw)
}

// matcherFor returns the matcher that ignores what policy cannot check. It reads the
// prepared cache; an unprepared policy is compiled on the spot and not cached.
func (q *Query) matcherFor(p LabelPolicy, id string) relaxedMatcher {
	if m, ok := q.relaxed[id]; ok {
		return m
	}
	return q.compileRelaxed(p)
}

func newMatcher(sel map[string]string, ns *corev1.NodeSelector) nodeaffinity.RequiredNodeAffinity {
	var aff *corev1.Affinity
	if ns != nil {
		aff = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: ns}}
	}
	return nodeaffinity.NewRequiredNodeAffinity(sel, aff)
}

// untolerated returns the first NoSchedule/NoExecute taint the query does not
// tolerate, as TaintToleration's Filter does.
func (q *Query) untolerated(taints []corev1.Taint) (corev1.Taint, bool) {
	if len(taints) == 0 {
		return corev1.Taint{}, false
	}
	return v1helper.FindMatchingUntoleratedTaint(klog.Background(), taints, q.Constraints.Tolerations, doNotSchedule, true)
}

func doNotSchedule(t *corev1.Taint) bool {
	return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
}

// Reason classifies a fit answer.
type Reason int

// The reasons, in the order a rejection is explained: the most basic failure wins.
const (
	// Fits means some lower node can take the pod.
	Fits Reason = iota
	// NoNodes means the lower cluster has no Ready, schedulable node.
	NoNodes
	// NoAffinityMatch means no lower node matches the node selector or affinity.
	NoAffinityMatch
	// UntoleratedTaint means every matching lower node has a taint the pod does not tolerate.
	UntoleratedTaint
	// InsufficientResources means no matching, tolerated node has room.
	InsufficientResources
)

// Result is the answer to a Query.
type Result struct {
	// Reason says whether and why not the pod fits.
	Reason Reason
	// Message explains a rejection for people, without the cluster's name.
	Message string
	// Resource is the first resource no node has enough of, for InsufficientResources.
	Resource corev1.ResourceName
}

// Fits reports whether the pod fits.
func (r Result) Fits() bool { return r.Reason == Fits }

// verdict accumulates, over the groups of one cluster, why a pod was turned away.
type verdict struct {
	groups, matched, tolerated int
	taint                      corev1.Taint
	largest                    Vector
}

// admit records g's admission a and returns whether g admits the pod.
func (v *verdict) admit(g *indexGroup, a admission) bool {
	v.groups++
	if !a.matched {
		return false
	}
	v.matched++
	if !a.ok {
		if a.taint >= 0 && int(a.taint) < len(g.taints) {
			v.taint = g.taints[a.taint]
		}
		return false
	}
	v.tolerated++
	return true
}

// result explains a rejection.
func (v *verdict) result(req Vector) Result {
	switch {
	case v.groups == 0:
		return Result{Reason: NoNodes, Message: "no Ready, schedulable lower node"}
	case v.matched == 0:
		return Result{Reason: NoAffinityMatch, Message: "no lower node matches the pod's node selector/affinity"}
	case v.tolerated == 0:
		return Result{Reason: UntoleratedTaint, Message: fmt.Sprintf("every matching lower node has an untolerated taint (%s=%s:%s)", v.taint.Key, v.taint.Value, v.taint.Effect)}
	}
	if name := v.largest.Insufficient(req); name != "" {
		return Result{Reason: InsufficientResources, Resource: name, Message: fmt.Sprintf("no lower node has %s free; largest is %s",
			FormatAmount(name, req.Get(name)), strings.TrimSuffix(FormatAmount(name, max(v.largest.Get(name), 0)), " CPU"))}
	}
	parts := make([]string, 0, 4)
	for _, n := range req.Names(false) {
		if n != corev1.ResourcePods {
			parts = append(parts, FormatAmount(n, req.Get(n)))
		}
	}
	return Result{Reason: InsufficientResources, Message: fmt.Sprintf("no single lower node has %s free at once", strings.Join(parts, " and "))}
}
