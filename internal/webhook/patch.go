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

// podSections are the parts of a pod whose fields Mutate may change.
var podSections = []string{"/metadata", "/spec"}

// daemonSetSections are the parts of a DaemonSet whose fields MutateDaemonSet may
// change: only the pod template's spec, so the patch replaces its affinity and not
// the whole template.
var daemonSetSections = []string{"/spec/template/spec"}

// CreatePatch returns the JSON patch that turns original into mutated: for each field
// directly under metadata and spec that differs, one add, replace or remove of the
// whole field. Whole-field replacement keeps the patch obviously correct (no list index
// arithmetic) at the cost of size, which is small for the fields Mutate touches. The
// operations are sorted by path, so equal inputs give equal patches.
func CreatePatch(original, mutated *corev1.Pod) ([]PatchOperation, error) {
	return createPatch(original, mutated, podSections)
}

// createPatch is CreatePatch for any object and the given sections, JSON pointers to
// objects in it: each field directly under a section is compared.
func createPatch(original, mutated any, sections []string) ([]PatchOperation, error) {
	before, err := decodeSections(original, sections)
	if err != nil {
		return nil, err
	}
	after, err := decodeSections(mutated, sections)
	if err != nil {
		return nil, err
	}
	var ops []PatchOperation
	for _, section := range sections {
		b, a := before[section], after[section]
		if a == nil {
			// Objects always serialise these sections; a nil here would be a bug.
			return nil, fmt.Errorf("mutated object has no %s", section)
		}
		if b == nil {
			ops = append(ops, PatchOperation{Op: "add", Path: section, Value: a})
			continue
		}
		ops = append(ops, diffFields(section, b, a)...)
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

// decodeSections serialises obj to JSON and returns the objects at sections, so the
// diff sees exactly what the API server will (omitempty, field names, exact numbers).
// A section that is absent or not an object is left out.
func decodeSections(obj any, sections []string) (map[string]map[string]any, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encoding the object: %w", err)
	}
	// json.Number keeps int64 fields (tolerationSeconds, runAsUser, ...) exact; a
	// float64 would round them and the patch would change them.
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("decoding the object: %w", err)
	}
	out := map[string]map[string]any{}
	for _, s := range sections {
		m := doc
		for _, token := range strings.Split(strings.TrimPrefix(s, "/"), "/") {
			m, _ = m[token].(map[string]any)
		}
		if m != nil {
			out[s] = m
		}
	}
	return out, nil
}

// escape encodes a key as a JSON pointer reference token (RFC 6901).
func escape(key string) string {
	return strings.ReplaceAll(strings.ReplaceAll(key, "~", "~0"), "/", "~1")
}
