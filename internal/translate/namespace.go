package translate

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Placeholders of a lower-namespace template.
const (
	// PlaceholderNamespace stands for the upper namespace; a template has it exactly once.
	PlaceholderNamespace = "{namespace}"
	// PlaceholderCluster stands for the upper cluster's identifier (Owner.UpperCluster).
	PlaceholderCluster = "{cluster}"
	// PlaceholderNode stands for the virtual node's name.
	PlaceholderNode = "{node}"
)

// NamespaceMap maps the namespaces of the upper cluster to those of the lower one. The
// zero value keeps names as they are (the source document's behaviour); a map built
// from a template such as "{namespace}-{cluster}" adds a fixed prefix and suffix, so
// two upper clusters, or two virtual nodes of one, can share a lower cluster without
// their objects colliding. A fixed prefix and suffix keep the map invertible: lower
// events, pods and objects are traced back to their upper namespace by name alone.
type NamespaceMap struct {
	prefix, suffix string
}

// ParseNamespaceMap builds the map of template for an owner: {cluster} and {node} are
// replaced by the owner's upper cluster and virtual node, and {namespace}, which must
// appear exactly once, by each upper namespace. What surrounds it must be valid in a
// namespace name (lower-case letters, digits, '-').
func ParseNamespaceMap(template string, owner Owner) (NamespaceMap, error) {
	if template == "" || template == PlaceholderNamespace {
		return NamespaceMap{}, nil
	}
	if n := strings.Count(template, PlaceholderNamespace); n != 1 {
		return NamespaceMap{}, fmt.Errorf("lower-namespace template %q: want %s exactly once, found it %d times", template, PlaceholderNamespace, n)
	}
	expanded := strings.NewReplacer(PlaceholderCluster, owner.UpperCluster, PlaceholderNode, owner.VirtualNode).Replace(template)
	prefix, suffix, _ := strings.Cut(expanded, PlaceholderNamespace)
	if strings.ContainsAny(prefix+suffix, "{}") {
		return NamespaceMap{}, fmt.Errorf("lower-namespace template %q: unknown placeholder (known: %s, %s, %s)",
			template, PlaceholderNamespace, PlaceholderCluster, PlaceholderNode)
	}
	// "a" stands for the shortest upper namespace: what surrounds it must make a valid name.
	if msgs := validation.IsDNS1123Label(prefix + "a" + suffix); len(msgs) > 0 {
		return NamespaceMap{}, fmt.Errorf("lower-namespace template %q gives namespaces like %q: %s",
			template, prefix+"a"+suffix, strings.Join(msgs, "; "))
	}
	return NamespaceMap{prefix: prefix, suffix: suffix}, nil
}

// Identity reports whether namespaces keep their names below.
func (m NamespaceMap) Identity() bool { return m.prefix == "" && m.suffix == "" }

// ToLower returns the lower namespace of an upper one ("" stays "": all namespaces).
func (m NamespaceMap) ToLower(upper string) string {
	if upper == "" {
		return ""
	}
	return m.prefix + upper + m.suffix
}

// ToUpper returns the upper namespace a lower one maps from; ok is false for a lower
// namespace outside the map (the lower cluster's own, another virtual node's).
func (m NamespaceMap) ToUpper(lower string) (upper string, ok bool) {
	if len(lower) <= len(m.prefix)+len(m.suffix) || !strings.HasPrefix(lower, m.prefix) || !strings.HasSuffix(lower, m.suffix) {
		return "", false
	}
	return lower[len(m.prefix) : len(lower)-len(m.suffix)], true
}

// CheckLower returns an error when an upper namespace maps to a name the lower cluster
// cannot have (too long: namespace names have at most 63 characters).
func (m NamespaceMap) CheckLower(upper string) error {
	lower := m.ToLower(upper)
	if msgs := validation.IsDNS1123Label(lower); len(msgs) > 0 {
		return fmt.Errorf("namespace %q maps to %q in the lower cluster, which is not a valid namespace name (%s); use a shorter --upper-cluster-id or --lower-namespace template",
			upper, lower, strings.Join(msgs, "; "))
	}
	return nil
}

// String is the map as a template, for logs.
func (m NamespaceMap) String() string { return m.prefix + PlaceholderNamespace + m.suffix }
