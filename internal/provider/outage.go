package provider

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
)

// lowerProbeTimeout bounds the readiness probe of the lower API server made before a
// status would reassert readiness that the upper control plane took away.
const lowerProbeTimeout = 3 * time.Second

// overridesAbove reports whether writing want would turn the upper pod's Ready or
// ContainersReady back to True after someone above set it False later than the lower
// pod last changed it: the upper node lifecycle controller does that (MarkPodsNotReady)
// when the virtual node goes NotReady. Status that merely mirrors the lower pod never
// matches: it carries the lower transition times.
func overridesAbove(current, want corev1.PodStatus) bool {
	for _, t := range []corev1.PodConditionType{corev1.PodReady, corev1.ContainersReady} {
		cur, ok1 := conditionOf(current, t)
		w, ok2 := conditionOf(want, t)
		if ok1 && ok2 && cur.Status != corev1.ConditionTrue && w.Status == corev1.ConditionTrue &&
			cur.LastTransitionTime.After(w.LastTransitionTime.Time) {
			return true
		}
	}
	return false
}

func conditionOf(st corev1.PodStatus, t corev1.PodConditionType) (corev1.PodCondition, bool) {
	for _, c := range st.Conditions {
		if c.Type == t {
			return c, true
		}
	}
	return corev1.PodCondition{}, false
}

// lowerReachable asks the lower API server whether it is ready. It is called only for
// the rare status that would override a decision taken above (overridesAbove), so it
// keeps no state: once the lower cluster answers again, its pods' readiness is
// reasserted, as a kubelet reasserts its pods' status when it reconnects.
func (p *Provider) lowerReachable(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, lowerProbeTimeout)
	defer cancel()
	rc := p.cfg.Lower.Discovery().RESTClient()
	if c, ok := rc.(*rest.RESTClient); ok && c == nil {
		return true // a client without REST access (fakes): nothing to ask
	}
	_, err := rc.Get().AbsPath("/readyz").DoRaw(ctx)
	return err == nil
}
