package virtualnode

import (
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tensile-kube/tensile/pkg/vnodeident"
)

// LabelExcludeFromLB keeps virtual nodes out of Service load-balancer pools: the pods
// behind them are not reachable through the node (the source design's known issue).
const LabelExcludeFromLB = "node.kubernetes.io/exclude-from-external-load-balancers"

// nodeTemplate is the node as registered; its status is filled in by the node provider.
func nodeTemplate(o *Options) (*corev1.Node, error) {
	taints, err := o.Taints()
	if err != nil {
		return nil, err
	}
	labels := map[string]string{
		vnodeident.LabelType:     vnodeident.ValueVirtualKubelet,
		vnodeident.LabelRole:     vnodeident.ValueAgent,
		vnodeident.LabelHostname: o.NodeName,
		corev1.LabelOSStable:     o.OperatingSystem,
		corev1.LabelArchStable:   o.Architecture,
		LabelExcludeFromLB:       "true",
	}
	for k, v := range o.NodeLabels {
		labels[k] = v
	}
	_, portStr, _ := net.SplitHostPort(o.ListenAddress)
	port, _ := strconv.Atoi(portStr)
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: o.NodeName, Labels: labels},
		Spec:       corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: o.NodeIP},
				{Type: corev1.NodeHostName, Address: o.NodeName},
			},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(port)}},
			NodeInfo: corev1.NodeSystemInfo{
				OperatingSystem: o.OperatingSystem,
				Architecture:    o.Architecture,
			},
		},
	}, nil
}
