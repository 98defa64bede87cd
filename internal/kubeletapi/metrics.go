package kubeletapi

import (
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"k8s.io/utils/ptr"
)

// Label names of kubelet's resource metrics that locate a pod.
const (
	labelNamespace = "namespace"
	labelPod       = "pod"
)

// scrapeErrorName is the gauge kubelet's /metrics/resource reports its own scrape
// failures with; the virtual node reports its failures to scrape lower nodes with it.
const scrapeErrorName = "scrape_error"

// mergeResourceMetrics assembles the virtual node's /metrics/resource from the lower
// nodes' (keyed by lower node name, then family name). The node_* series of the selected
// nodes are summed, series with equal labels together; the container_* and pod_* series
// of owned pods are kept with their upper namespace and name, and those of other pods
// dropped. scrapeFailed sets scrape_error. The output is sorted, so it is stable.
func mergeResourceMetrics(selected []string, owned []OwnedPod, perNode map[string]map[string]*dto.MetricFamily, scrapeFailed bool) []*dto.MetricFamily {
	isSelected := make(map[string]bool, len(selected))
	for _, n := range selected {
		isSelected[n] = true
	}
	upper := map[[2]string]PodIdentity{}
	for _, op := range owned {
		if op.Lower != nil {
			upper[[2]string{op.Lower.Namespace, op.Lower.Name}] = op.Upper
		}
	}
	out := map[string]*dto.MetricFamily{}
	for _, node := range sortedKeys(perNode) {
		fams := perNode[node]
		for _, name := range sortedKeys(fams) {
			switch {
			case strings.HasPrefix(name, "node_"):
				if isSelected[node] {
					sumInto(family(out, fams[name]), fams[name].GetMetric())
				}
			case strings.HasPrefix(name, "container_"), strings.HasPrefix(name, "pod_"):
				renameInto(family(out, fams[name]), fams[name].GetMetric(), upper)
			}
		}
	}
	for name, f := range out {
		if len(f.Metric) == 0 {
			delete(out, name)
		}
	}
	errValue := 0.0
	if scrapeFailed {
		errValue = 1
	}
	out[scrapeErrorName] = &dto.MetricFamily{
		Name:   ptr.To(scrapeErrorName),
		Help:   ptr.To("1 if there was an error while getting container metrics, 0 otherwise"),
		Type:   dto.MetricType_GAUGE.Enum(),
		Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: ptr.To(errValue)}}},
	}
	return sortedFamilies(out)
}

// family returns out's family named like f, creating it empty with f's help and type.
func family(out map[string]*dto.MetricFamily, f *dto.MetricFamily) *dto.MetricFamily {
	if got, ok := out[f.GetName()]; ok {
		return got
	}
	nf := &dto.MetricFamily{Name: ptr.To(f.GetName()), Type: f.GetType().Enum()}
	if f.Help != nil {
		nf.Help = ptr.To(f.GetHelp())
	}
	out[f.GetName()] = nf
	return nf
}

// sumInto adds metrics to dst's metrics with the same labels, keeping the latest sample
// timestamp. Only counters, gauges and untyped values can be summed; kubelet's node
// series are all of these.
func sumInto(dst *dto.MetricFamily, metrics []*dto.Metric) {
	for _, m := range metrics {
		v, ok := value(m)
		if !ok {
			continue
		}
		var target *dto.Metric
		for _, t := range dst.Metric {
			if labelKey(t.GetLabel()) == labelKey(m.GetLabel()) {
				target = t
				break
			}
		}
		if target == nil {
			target = &dto.Metric{Label: m.GetLabel()}
			setValue(target, dst.GetType(), 0)
			dst.Metric = append(dst.Metric, target)
		}
		cur, _ := value(target)
		setValue(target, dst.GetType(), cur+v)
		if m.TimestampMs != nil && m.GetTimestampMs() > target.GetTimestampMs() {
			target.TimestampMs = ptr.To(m.GetTimestampMs())
		}
	}
}

// renameInto appends to dst the metrics of owned pods, with the upper namespace and name.
func renameInto(dst *dto.MetricFamily, metrics []*dto.Metric, upper map[[2]string]PodIdentity) {
	for _, m := range metrics {
		up, ok := upper[podOf(m)]
		if !ok {
			continue
		}
		labels := make([]*dto.LabelPair, 0, len(m.GetLabel()))
		for _, l := range m.GetLabel() {
			v := l.GetValue()
			switch l.GetName() {
			case labelNamespace:
				v = up.Namespace
			case labelPod:
				v = up.Name
			}
			labels = append(labels, &dto.LabelPair{Name: ptr.To(l.GetName()), Value: ptr.To(v)})
		}
		dst.Metric = append(dst.Metric, &dto.Metric{
			Label: labels, Counter: m.Counter, Gauge: m.Gauge, Untyped: m.Untyped, TimestampMs: m.TimestampMs,
		})
	}
}

// value returns a metric's sample value, if it has a single one.
func value(m *dto.Metric) (float64, bool) {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue(), true
	case m.Gauge != nil:
		return m.Gauge.GetValue(), true
	case m.Untyped != nil:
		return m.Untyped.GetValue(), true
	}
	return 0, false
}

// setValue sets a metric's sample value in the field its family type uses.
func setValue(m *dto.Metric, t dto.MetricType, v float64) {
	switch t {
	case dto.MetricType_COUNTER:
		m.Counter = &dto.Counter{Value: ptr.To(v)}
	case dto.MetricType_GAUGE:
		m.Gauge = &dto.Gauge{Value: ptr.To(v)}
	default:
		m.Untyped = &dto.Untyped{Value: ptr.To(v)}
	}
}

// labelKey renders labels as a comparable, order-independent key.
func labelKey(labels []*dto.LabelPair) string {
	parts := make([]string, 0, len(labels))
	for _, l := range labels {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// sortedFamilies returns the families by name, each with its metrics ordered by labels.
func sortedFamilies(m map[string]*dto.MetricFamily) []*dto.MetricFamily {
	out := make([]*dto.MetricFamily, 0, len(m))
	for _, name := range sortedKeys(m) {
		f := m[name]
		sort.SliceStable(f.Metric, func(i, j int) bool {
			return labelKey(f.Metric[i].GetLabel()) < labelKey(f.Metric[j].GetLabel())
		})
		out = append(out, f)
	}
	return out
}

// keepSeries reduces a lower node's resource metrics to what the virtual node may
// report: the node_* families and the container_* and pod_* series of the pods in keep
// (by lower namespace and name).
func keepSeries(fams map[string]*dto.MetricFamily, keep map[[2]string]bool) map[string]*dto.MetricFamily {
	out := make(map[string]*dto.MetricFamily, len(fams))
	for name, f := range fams {
		switch {
		case strings.HasPrefix(name, "node_"):
			out[name] = f
		case strings.HasPrefix(name, "container_"), strings.HasPrefix(name, "pod_"):
			var kept []*dto.Metric
			for _, m := range f.GetMetric() {
				if keep[podOf(m)] {
					kept = append(kept, m)
				}
			}
			if len(kept) > 0 {
				f.Metric = kept
				out[name] = f
			}
		}
	}
	return out
}

// podOf returns the namespace and pod name labels of a series.
func podOf(m *dto.Metric) [2]string {
	var key [2]string
	for _, l := range m.GetLabel() {
		switch l.GetName() {
		case labelNamespace:
			key[0] = l.GetValue()
		case labelPod:
			key[1] = l.GetValue()
		}
	}
	return key
}
