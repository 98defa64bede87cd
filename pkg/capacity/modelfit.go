package capacity

// Fit answers from the live model whether some lower node can take the pod, exactly as
// kube-scheduler's NodeResourcesFit, NodeAffinity and TaintToleration filters would on
// that node. Groups are matched first on their kept labels and taints; within a group
// nodes are visited by free CPU, largest first, each checked against the pod's
// selector on its own labels and name, and the walk stops at the first matching node
// with too little CPU. Fit prepares q for the model's label policy, so one q must not
// be passed to Fit from several goroutines at once.
func (m *Model) Fit(q *Query) Result {
	q.Prepare(m.policy)
	relaxed := q.matcherFor(m.policy, m.policy.id())
	m.mu.RLock()
	defer m.mu.RUnlock()
	var v verdict
	found, exactMatch := false, false
	for _, g := range m.groups {
		if !v.admit(q, relaxed, g.proto, g.taints) {
			continue
		}
		g.members.Ascend(func(n *nodeState) bool {
			if q.hasAffinity {
				if ok, err := q.exact.Match(n.proto); err != nil || !ok {
					return true
				}
			}
			exactMatch = true
			free := n.free()
			v.largest.maxInPlace(free)
			if free.Fits(q.Requests) {
				found = true
				return false
			}
			// Every later node has less CPU free.
			return q.Requests.MilliCPU <= 0 || n.freeCPU >= q.Requests.MilliCPU
		})
		if found {
			return Result{Reason: Fits}
		}
	}
	if v.tolerated > 0 && !exactMatch {
		return Result{Reason: NoAffinityMatch, Message: "no lower node matches the pod's node selector/affinity"}
	}
	return v.result(q.Requests)
}
