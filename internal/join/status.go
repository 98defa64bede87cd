package join

import (
	"context"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/tensile-kube/tensile/pkg/vnodeident"
)

// NodeStatus is one row of Status.
type NodeStatus struct {
	Name string
	// JoinedBy is "tensilectl" for nodes join made, "-" for others.
	JoinedBy string
	// Lower is whether the lower cluster answers with the joined kubeconfig: "yes",
	// "no: <why>", or "unknown" (not joined by tensilectl: no kubeconfig to try).
	Lower string
	// Ready is the node's Ready condition status.
	Ready string
	// CPU and Memory are the node's allocatable amounts.
	CPU, Memory string
	// Pods is "<non-terminal pods on the node>/<pod capacity>".
	Pods string
	// SummaryAge is how old the ClusterSummary is ("-" when there is none).
	SummaryAge string
}

// Status reports every virtual node of the upper cluster (nodes labelled
// type=virtual-kubelet), whoever made them.
func Status(ctx context.Context, o Options) ([]NodeStatus, error) {
	if _, err := o.Upper.Reachable(o.Timeout); err != nil {
		return nil, err
	}
	sel := vnodeident.LabelType + "=" + vnodeident.ValueVirtualKubelet
	nodes, err := o.Upper.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("%s: listing nodes: %w", o.Upper, err)
	}
	pods, err := o.Upper.Kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName!="})
	if err != nil {
		return nil, fmt.Errorf("%s: listing pods: %w", o.Upper, err)
	}
	running := map[string]int{}
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			running[p.Spec.NodeName]++
		}
	}
	var out []NodeStatus
	for i := range nodes.Items {
		n := &nodes.Items[i]
		s := NodeStatus{Name: n.Name, JoinedBy: "-", Lower: "unknown", Ready: "Unknown", SummaryAge: "-",
			CPU: n.Status.Allocatable.Cpu().String(), Memory: n.Status.Allocatable.Memory().String(),
			Pods: fmt.Sprintf("%d/%s", running[n.Name], n.Status.Capacity.Pods().String())}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				s.Ready = string(c.Status)
			}
		}
		if s.SummaryAge, err = o.summaryAge(ctx, n.Name); err != nil {
			return nil, err
		}
		secrets, err := o.Upper.Kube.CoreV1().Secrets("").List(ctx, metav1.ListOptions{LabelSelector: (Plan{Node: n.Name}).Selector()})
		if err != nil {
			return nil, fmt.Errorf("%s: listing Secrets: %w", o.Upper, err)
		}
		for _, sec := range secrets.Items {
			if sec.Type == corev1.SecretTypeOpaque {
				s.JoinedBy, s.Lower = ValueManagedBy, o.lowerReachable(&sec)
			}
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (o Options) summaryAge(ctx context.Context, node string) (string, error) {
	cs, err := o.Upper.Tensile.TensileV1alpha1().ClusterSummaries().Get(ctx, node, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "-", nil
	} else if err != nil {
		return "", fmt.Errorf("%s: reading ClusterSummary %s: %w", o.Upper, node, err)
	}
	if cs.Status.UpdateTime.IsZero() {
		return "-", nil
	}
	return duration.HumanDuration(time.Since(cs.Status.UpdateTime.Time)), nil
}

// lowerReachable tries the kubeconfig of a join's Secret.
func (o Options) lowerReachable(sec *corev1.Secret) string {
	for _, kc := range sec.Data {
		cfg, err := clientcmd.RESTConfigFromKubeConfig(kc)
		if err != nil {
			return "no: " + err.Error()
		}
		c, err := newCluster("lower", "Secret "+sec.Namespace+"/"+sec.Name, cfg)
		if err != nil {
			return "no: " + err.Error()
		}
		if _, err := c.Reachable(o.Timeout); err != nil {
			return "no: " + err.Error()
		}
		return "yes"
	}
	return "no: the Secret holds no kubeconfig"
}

// PrintStatus writes rows as a table.
func PrintStatus(w io.Writer, rows []NodeStatus) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tJOINED-BY\tLOWER-REACHABLE\tREADY\tCPU\tMEMORY\tPODS\tSUMMARY-AGE")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.JoinedBy, r.Lower, r.Ready, r.CPU, r.Memory, r.Pods, r.SummaryAge)
	}
	return tw.Flush()
}
