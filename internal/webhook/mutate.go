// Package webhook is the mutating admission webhook that prepares pods for virtual
// nodes.
//
// On pod creation it moves the pod's lower-cluster constraints (nodeSelector, required
// node affinity, tolerations) into the constraints annotation, where the virtual node
// restores them on the lower pod, so the upper scheduler does not try to satisfy them
// against the virtual node. It adds the tolerations a pod needs on a virtual node and
// the placement exclusions recorded for the pod's controller. Mutate is the pure
// transformation; Handler serves it over HTTP as AdmissionReview v1; Server runs it.
//
// On DaemonSet creation and update it keeps the DaemonSet off virtual nodes unless its
// pod template opts in (MutateDaemonSet): a DaemonSet that tolerates every taint is
// meant for the upper cluster's own nodes.
package webhook

import (
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/tensile-kube/tensile/pkg/constraints"
	"github.com/tensile-kube/tensile/pkg/placement"
	"github.com/tensile-kube/tensile/pkg/vnodeident"
)

// DefaultProviderTaintKey is the key of the taint every virtual node carries
// (virtual-kubelet.io/provider=<provider>:NoSchedule).
const DefaultProviderTaintKey = vnodeident.TaintProvider

// DefaultIgnoreKeys returns the node label keys that describe upper-cluster nodes rather
// than lower ones: `type` and `kubernetes.io/role` (what marks a virtual node) and
// `kubernetes.io/hostname` (which names an upper node, and carries the placement
// exclusions). nodeSelector entries and required node affinity expressions with these
// keys stay in the upper spec instead of being sent down. They are
// vnodeident.UpperLabelKeys, so that nothing the virtual node and the scheduler plugin
// treat as about virtual nodes is sent down. Each call returns a new slice.
func DefaultIgnoreKeys() []string { return vnodeident.UpperLabelKeys() }

// Options configure Mutate.
type Options struct {
	// IgnoreKeys are node label keys that stay in the upper spec (see
	// DefaultIgnoreKeys). Empty means every key goes to the lower cluster.
	IgnoreKeys []string
	// ProviderTaintKey is the key of the virtual nodes' NoSchedule taint; empty means
	// DefaultProviderTaintKey.
	ProviderTaintKey string
}

// DefaultOptions returns the options the webhook command uses unless told otherwise.
func DefaultOptions() Options {
	return Options{IgnoreKeys: DefaultIgnoreKeys(), ProviderTaintKey: DefaultProviderTaintKey}
}

// Drift lists, one sentence each, where o departs from what the virtual node and the
// scheduler plugin assume (vnodeident): a virtual-node label key the webhook would
// send down, where no lower node has it, or another provider taint key. Nothing is
// wrong with a deliberate departure; the command logs these at start so an accidental
// one is seen.
func (o Options) Drift() []string {
	var out []string
	for _, k := range vnodeident.UpperLabelKeys() {
		if !slices.Contains(o.IgnoreKeys, k) {
			out = append(out, fmt.Sprintf("constraints on %q go down to the lower cluster, where the virtual node drops those about virtual nodes and no lower node has the rest", k))
		}
	}
	if o.ProviderTaintKey != "" && o.ProviderTaintKey != vnodeident.TaintProvider {
		out = append(out, fmt.Sprintf("virtual pods tolerate %q, not %q, the taint the virtual node registers with", o.ProviderTaintKey, vnodeident.TaintProvider))
	}
	return out
}

// Tolerations returns the tolerations every virtual pod gets in the upper cluster: the
// virtual nodes' provider taint, and node.kubernetes.io/not-ready and unreachable
// NoExecute without tolerationSeconds, so that an outage of a virtual node (a lower
// cluster out of reach) does not evict the pods it runs: they keep running below.
func (o Options) Tolerations() []corev1.Toleration {
	key := o.ProviderTaintKey
	if key == "" {
		key = DefaultProviderTaintKey
	}
	return []corev1.Toleration{
		{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	}
}

// Mutate returns a copy of pod prepared for virtual nodes, with warnings for the
// requester, and never modifies pod.
//
// A pod without the constraints annotation has its lower-cluster constraints saved
// there and removed from its spec: nodeSelector entries and required node affinity
// expressions whose keys are not in opts.IgnoreKeys, and all tolerations. A pod that
// already carries the annotation (a re-invocation, or a pod re-created by the
// descheduler from an already mutated one) keeps it as it is: its spec is already the
// upper one and saving it again would lose the constraints. Either way the pod then
// gets opts.Tolerations (replacing not-ready/unreachable tolerations that have
// tolerationSeconds, which would bound ours) and a `kubernetes.io/hostname NotIn` for
// the nodes in exclusions. Mutating the result again changes nothing.
//
// A nil pod or a malformed constraints annotation is an error: the pod cannot be
// placed correctly, and the caller should refuse it.
func Mutate(pod *corev1.Pod, opts Options, exclusions []string) (*corev1.Pod, []string, error) {
	if pod == nil {
		return nil, nil, errors.New("no pod to mutate")
	}
	out := pod.DeepCopy()
	_, saved, err := constraints.Load(out)
	if err != nil {
		return nil, nil, err
	}
	var warnings []string
	if !saved {
		r := split(&out.Spec, ignoreSet(opts.IgnoreKeys))
		if err := constraints.Save(out, &r.lower); err != nil {
			return nil, nil, err
		}
		out.Spec.NodeSelector = r.upperSelector
		out.Spec.Affinity = r.upperAffinity
		out.Spec.Tolerations = nil
		warnings = r.warnings
	}
	out.Spec.Tolerations = ensureTolerations(out.Spec.Tolerations, opts.Tolerations())
	out.Spec.Affinity = placement.WithExcludedNodes(out.Spec.Affinity, exclusions)
	return out, warnings, nil
}

// ensureTolerations returns have plus each of want it lacks. Tolerations of want's
// NoExecute keys that carry tolerationSeconds are removed first: the taint manager
// evicts at the smallest tolerationSeconds among matching tolerations, so they would
// cut ours short.
func ensureTolerations(have, want []corev1.Toleration) []corev1.Toleration {
	out := slices.DeleteFunc(slices.Clone(have), func(t corev1.Toleration) bool {
		if t.TolerationSeconds == nil || (t.Effect != "" && t.Effect != corev1.TaintEffectNoExecute) {
			return false
		}
		return slices.ContainsFunc(want, func(w corev1.Toleration) bool {
			return w.Effect == corev1.TaintEffectNoExecute && (t.Key == w.Key || t.Key == "")
		})
	})
	for _, w := range want {
		if !slices.ContainsFunc(out, func(t corev1.Toleration) bool { return t.MatchToleration(&w) }) {
			out = append(out, w)
		}
	}
	return out
}
