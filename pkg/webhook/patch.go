package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// PatchOperation is one RFC 6902 JSON patch operation.
type PatchOperation struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// patchedSections are the top-level parts of a pod whose fields Mutate may change.
var patchedSections = []string{"metadata", "spec"}

// CreatePatch returns the JSON patch that turns original into mutated: for each field
// directly under metadata and spec that differs, one add, replace or remove of the
// whole field. Whole-field replacement keeps the patch obviously correct (no list index
// arithmetic) at the cost of size, which is small for the fields Mutate touches. The
// operations are sorted by path, so equal inputs give equal patches.
func CreatePatch(original, mutated *corev1.Pod) ([]PatchOperation, error) {
	before, err := sections(original)
	if err != nil {
		return nil, err
	}
	after, err := sections(mutated)
	if err != nil {
		return nil, err
	}
	var ops []PatchOperation
	for _, section := range patchedSections {
		b, a := before[section], after[section]
		if a == nil {
			// Pods always serialise metadata and spec; a nil here would be a bug.
			return nil, fmt.Errorf("mutated pod has no %s", section)
		}
		if b == nil {
			ops = append(ops, PatchOperation{Op: "add", Path: "/" + section, Value: a})
			continue
		}
		ops = append(ops, diffFields("/"+section, b, a)...)
	}
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].Path < ops[j].Path })
	return ops, nil
}

// diffFields compares two JSON objects one level deep.
func diffFields(prefix string, before, after map[string]any) []PatchOperation {
	var ops []PatchOperation
	for k, b := range before {
		a, ok := after[k]
		switch {
		case !ok:
			ops = append(ops, PatchOperation{Op: "remove", Path: prefix + "/" + escape(k)})
		case !reflect.DeepEqual(a, b):
			ops = append(ops, PatchOperation{Op: "replace", Path: prefix + "/" + escape(k), Value: a})
		}
	}
	for k, a := range after {
		if _, ok := before[k]; !ok {
			ops = append(ops, PatchOperation{Op: "add", Path: prefix + "/" + escape(k), Value: a})
		}
	}
	return ops
}

// sections serialises pod to JSON and returns its top-level objects, so the diff
// sees exactly what the API server will (omitempty, field names, exact numbers).
func sections(pod *corev1.Pod) (map[string]map[string]any, error) {
	raw, err := json.Marshal(pod)
	if err != nil {
		return nil, fmt.Errorf("encoding pod: %w", err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, fmt.Errorf("decoding pod: %w", err)
	}
	out := map[string]map[string]any{}
	for _, s := range patchedSections {
		if top[s] == nil {
			continue
		}
		// json.Number keeps int64 fields (tolerationSeconds, runAsUser, ...) exact; a
		// float64 would round them and the patch would change them.
		dec := json.NewDecoder(bytes.NewReader(top[s]))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("decoding pod %s: %w", s, err)
		}
		out[s] = m
	}
	return out, nil
}

// escape encodes a key as a JSON pointer reference token (RFC 6901).
func escape(key string) string {
	return strings.ReplaceAll(strings.ReplaceAll(key, "~", "~0"), "/", "~1")
}
