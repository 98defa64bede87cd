package capacity

import (
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// LabelPolicy decides which node labels take part in grouping. A label whose value is
// unique per node (the hostname above all) would make every node its own group, so a
// bounded summary has to ignore it. The cost: a pod's nodeSelector or affinity term on
// an ignored key cannot be checked from the summary; it is treated as satisfiable (the
// pod may be sent to a virtual node and then stay Pending below if no lower node
// matches); the lower scheduler enforces them.
type LabelPolicy struct {
	// IgnoreKeys are exact label keys to leave out.
	IgnoreKeys []string
	// IgnorePrefixes are key prefixes to leave out (e.g. "kwok.x-k8s.io/").
	IgnorePrefixes []string
}

// DefaultLabelPolicy leaves out the well-known labels whose values are per node.
func DefaultLabelPolicy() LabelPolicy {
	return LabelPolicy{
		IgnoreKeys: []string{
			corev1.LabelHostname,
			"node.kubernetes.io/instance-id",
			"alpha.eksctl.io/instance-id",
			"topology.gke.io/node-name",
			"kubernetes.azure.com/node-name",
		},
		IgnorePrefixes: []string{"volumes.kubernetes.io/", "csi.volume.kubernetes.io/"},
	}
}

// Ignores reports whether key is left out of group labels.
func (p LabelPolicy) Ignores(key string) bool {
	for _, k := range p.IgnoreKeys {
		if k == key {
			return true
		}
	}
	for _, pre := range p.IgnorePrefixes {
		if strings.HasPrefix(key, pre) {
			return true
		}
	}
	return false
}

// keep returns the labels that take part in grouping.
func (p LabelPolicy) keep(labels map[string]string) map[string]string {
	out := make(map[string]string, len(labels))
	for k, v := range labels {
		if !p.Ignores(k) {
			out[k] = v
		}
	}
	return out
}

// ID is a stable string naming the policy, whatever the order of its keys and
// prefixes, to cache per-policy compiled matchers and to tell policies apart.
func (p LabelPolicy) ID() string {
	keys := append([]string(nil), p.IgnoreKeys...)
	sort.Strings(keys)
	pres := append([]string(nil), p.IgnorePrefixes...)
	sort.Strings(pres)
	return strings.Join(keys, ",") + "|" + strings.Join(pres, ",")
}

// groupKey names a (kept labels, scheduling taints) combination.
func groupKey(labels map[string]string, taints []corev1.Taint) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(labels[k])
		b.WriteByte(0)
	}
	b.WriteByte(1)
	for _, t := range taints {
		b.WriteString(t.Key)
		b.WriteByte('=')
		b.WriteString(t.Value)
		b.WriteByte(':')
		b.WriteString(string(t.Effect))
		b.WriteByte(0)
	}
	return b.String()
}

func sortTaints(ts []corev1.Taint) {
	sort.Slice(ts, func(i, j int) bool {
		if ts[i].Key != ts[j].Key {
			return ts[i].Key < ts[j].Key
		}
		if ts[i].Effect != ts[j].Effect {
			return ts[i].Effect < ts[j].Effect
		}
		return ts[i].Value < ts[j].Value
	})
}
