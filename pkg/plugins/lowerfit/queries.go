package lowerfit

import (
	"encoding/json"
	"sync"

	"github.com/tensile-kube/tensile/pkg/capacity"
	"github.com/tensile-kube/tensile/pkg/constraints"
)

// maxQueries bounds the interned queries: workloads share a few shapes, and a flood
// of distinct ones must not grow memory without end (the set starts afresh when full;
// queries still held by reservations stay with them).
const maxQueries = 1024

// queries interns prepared queries by everything their answers depend on: the pod's
// requests, its lower constraints and the label policies they were prepared for. Each
// reservation holds its pod's query until a summary counts the pod; a burst of one
// workload's pods (5,000 in the scheduler bench, within the reservation TTL) would
// otherwise hold 5,000 equal copies of about 3 KB each. An interned query is prepared
// before it is shared and never modified after: Filter, Score and the store read it
// concurrently.
type queries struct {
	mu sync.Mutex
	m  map[string]*capacity.Query
}

func newQueries() *queries { return &queries{m: map[string]*capacity.Query{}} }

// prepared returns q prepared for v's policies, or an equal query prepared before.
func (qs *queries) prepared(q *capacity.Query, v *view) *capacity.Query {
	raw, err := json.Marshal(struct {
		R capacity.Vector          `json:"r"`
		C *constraints.Constraints `json:"c,omitempty"`
	}{q.Requests, q.Constraints})
	if err != nil { // not shareable; prepare it for this cycle alone
		q.Prepare(v.policies...)
		return q
	}
	key := v.policyIDs + "\x00" + string(raw)
	qs.mu.Lock()
	if got := qs.m[key]; got != nil {
		qs.mu.Unlock()
		return got
	}
	qs.mu.Unlock()
	q.Prepare(v.policies...)
	qs.mu.Lock()
	defer qs.mu.Unlock()
	if got := qs.m[key]; got != nil {
		return got
	}
	if len(qs.m) >= maxQueries {
		qs.m = map[string]*capacity.Query{}
	}
	qs.m[key] = q
	return q
}
