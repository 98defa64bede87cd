package e2e

import (
	"fmt"
	"os"
	"testing"
	"time"

	vke2e "github.com/virtual-kubelet/virtual-kubelet/test/e2e"
)

// nodeProxyIP is an address the upper API server's node proxy accepts for a virtual
// node: it refuses loopback node addresses ("address not allowed"), so hack/e2e.sh runs
// the test bed in a network namespace of its own, where this address is on the loopback
// interface and reaches nothing else. Empty outside such a namespace.
var nodeProxyIP = os.Getenv("TESTBED_NODE_PROXY_IP")

// TestVirtualKubeletSuite runs virtual-kubelet's own provider e2e suite
// (github.com/virtual-kubelet/virtual-kubelet/test/e2e) against a virtual node of the
// test bed, with the upper cluster as the suite's cluster.
func TestVirtualKubeletSuite(t *testing.T) {
	ns := createNamespace(t, upper, "vksuite")
	var extra []string
	if nodeProxyIP != "" {
		extra = []string{"--listen-address", fmt.Sprintf("%s:%d", nodeProxyIP, freePort(t)), "--node-ip", nodeProxyIP}
	}
	vn := startVirtualNode(t, "vk-suite", lowerA, extra...)
	skip := map[string]string{
		// The suite reads stats through the *pod* proxy of a pod named like the node
		// (upstream runs virtual-kubelet as that pod). Pods do not run on the test bed;
		// TestKubeletAPI reads /stats/summary and /metrics/resource directly.
		"TestGetStatsSummary":    "needs a pod named like the node with a routable pod IP (the virtual node as a pod)",
		"TestGetMetricsResource": "needs a pod named like the node with a routable pod IP (the virtual node as a pod)",
	}
	if nodeProxyIP == "" {
		// Each of these ends with GET nodes/<node>/proxy/runningpods/ or /pods.
		for _, name := range []string{"TestGetPods", "TestPodLifecycleGracefulDelete", "TestPodLifecycleForceDelete",
			"TestCreatePodWithOptionalInexistentSecrets", "TestCreatePodWithMandatoryInexistentSecrets",
			"TestCreatePodWithOptionalInexistentConfigMap", "TestCreatePodWithMandatoryInexistentConfigMap"} {
			skip[name] = "the upper API server's node proxy refuses the loopback node address; run through hack/e2e.sh, which gives the test bed a network namespace"
		}
	}
	suite := vke2e.NewEndToEndTestSuite(vke2e.EndToEndTestSuiteConfig{
		Kubeconfig:   upper.Kubeconfig,
		Namespace:    ns,
		NodeName:     vn.Name,
		WatchTimeout: 90 * time.Second,
		ShouldSkipTest: func(name string) bool {
			why, ok := skip[name]
			if ok {
				t.Logf("skipping virtual-kubelet's %s: %s", name, why)
			}
			return ok
		},
	})
	suite.Run(t)
}
