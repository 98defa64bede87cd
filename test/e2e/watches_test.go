package e2e

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// watchedKinds are the upper kinds that virtual-kubelet's nodeutil.NewNode used to
// cache a second time, next to the reflectors' informers.
var watchedKinds = []string{"secrets", "configmaps", "services"}

// TestUpperWatches: a virtual node holds one watch of all upper Secrets, one of all
// ConfigMaps and one of all Services (its reflectors' informers, which virtual-kubelet's
// pod controller shares), not two. Counted with the upper API server's gauge of open
// watches across all namespaces, before and after the node starts, three times in a row
// (a watch of another client being renewed could skew one reading).
func TestUpperWatches(t *testing.T) {
	before := scrapeClusterWatches(t)
	startVirtualNode(t, "vk-watches", lowerA)
	stable := 0
	eventually(t, 60*time.Second, "one watch of each kind from the virtual node, three readings in a row", func(context.Context) (bool, string) {
		now := scrapeClusterWatches(t)
		msg := ""
		ok := true
		for _, k := range watchedKinds {
			d := now[k] - before[k]
			msg += fmt.Sprintf("%s +%v ", k, d)
			ok = ok && d == 1
		}
		if !ok {
			stable = 0
			return false, msg
		}
		stable++
		return stable >= 3, msg
	})
}

// scrapeClusterWatches reads the upper API server's open WATCH requests across all
// namespaces (apiserver_longrunning_requests, scope cluster) of watchedKinds.
func scrapeClusterWatches(t testing.TB) map[string]float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	raw := try(upper.Client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)).must(t)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("upper /metrics: %v", err)
	}
	out := map[string]float64{}
	for _, m := range fams["apiserver_longrunning_requests"].GetMetric() {
		l := map[string]string{}
		for _, p := range m.GetLabel() {
			l[p.GetName()] = p.GetValue()
		}
		if l["verb"] == "WATCH" && l["scope"] == "cluster" && l["group"] == "" && l["subresource"] == "" {
			out[l["resource"]] += m.GetGauge().GetValue()
		}
	}
	return out
}
