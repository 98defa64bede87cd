package virtualnode

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// templateNode is the node registered for vk-node with default flags; mods adjust it.
func templateNode(mods ...func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "vk-node", Labels: map[string]string{
			"type":                   "virtual-kubelet",
			"kubernetes.io/role":     "agent",
			"kubernetes.io/hostname": "vk-node",
			"kubernetes.io/os":       "linux",
			"kubernetes.io/arch":     "amd64",
			"node.kubernetes.io/exclude-from-external-load-balancers": "true",
		}},
		Spec: corev1.NodeSpec{Taints: []corev1.Taint{
			{Key: "virtual-kubelet.io/provider", Value: "tensile", Effect: corev1.TaintEffectNoSchedule},
		}},
		Status: corev1.NodeStatus{
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: "127.0.0.1"},
				{Type: corev1.NodeHostName, Address: "vk-node"},
			},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
			NodeInfo:        corev1.NodeSystemInfo{OperatingSystem: "linux", Architecture: "amd64"},
		},
	}
	for _, m := range mods {
		m(n)
	}
	return n
}

func TestNodeTemplate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		want    *corev1.Node
		wantErr bool
	}{
		{name: "defaults", args: required, want: templateNode()},
		{
			name: "extra labels, os and arch",
			args: with("--node-labels=topology.kubernetes.io/zone=eu-1,example.com/tier=gold", "--os=windows", "--arch=arm64"),
			want: templateNode(func(n *corev1.Node) {
				n.Labels["topology.kubernetes.io/zone"] = "eu-1"
				n.Labels["example.com/tier"] = "gold"
				n.Labels["kubernetes.io/os"] = "windows"
				n.Labels["kubernetes.io/arch"] = "arm64"
				n.Status.NodeInfo = corev1.NodeSystemInfo{OperatingSystem: "windows", Architecture: "arm64"}
			}),
		},
		{
			name: "node IP and daemon port from the flags",
			args: with("--node-ip=10.1.2.3", "--listen-address=0.0.0.0:10260"),
			want: templateNode(func(n *corev1.Node) {
				n.Status.Addresses[0].Address = "10.1.2.3"
				n.Status.DaemonEndpoints.KubeletEndpoint.Port = 10260
			}),
		},
		{
			name: "taints: provider disabled, extras kept",
			args: with("--disable-provider-taint", "--register-with-taints=gpu=true:NoSchedule"),
			want: templateNode(func(n *corev1.Node) {
				n.Spec.Taints = []corev1.Taint{{Key: "gpu", Value: "true", Effect: corev1.TaintEffectNoSchedule}}
			}),
		},
		{name: "bad taint", args: with("--register-with-taints=gpu"), wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := nodeTemplate(parseOptions(t, tc.args...))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("nodeTemplate succeeded, want an error; got %v", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("nodeTemplate: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("node (-want +got):\n%s", diff)
			}
		})
	}
}
