package join

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/tensile-kube/tensile/internal/translate"
)

// LeaderLeaseNamespace is where the virtual node's leader-election Lease lives (its
// --leader-elect-resource-namespace default), next to the node Lease.
const LeaderLeaseNamespace = "kube-node-lease"

// Unjoin removes the join of node: it cordons the node, refuses while pods run on it
// unless drain (then it evicts them and waits), stops the virtual node (its
// Deployment) and waits until no replica holds the node's Lease, deletes the Node and
// what the virtual node published above, then everything join created in both
// clusters and every lower copy the node owns.
func Unjoin(ctx context.Context, o Options, node string, drain bool) error {
	p := Plan{Node: node, Namespace: "unknown"}
	if err := p.Validate(); err != nil {
		return err
	}
	for _, c := range []*Cluster{o.Upper, o.Lower} {
		if _, err := c.Reachable(o.Timeout); err != nil {
			return err
		}
	}
	upperID, err := o.Upper.ID(ctx)
	if err != nil {
		return err
	}
	lowerID, err := o.Lower.ID(ctx)
	if err != nil {
		return err
	}
	upperObjs, err := listOwned(ctx, o.Upper, p)
	if err != nil {
		return err
	}
	lowerObjs, err := listOwned(ctx, o.Lower, p)
	if err != nil {
		return err
	}
	if err := checkUnjoin(p, upperID, lowerID, upperObjs, lowerObjs, o.Lower); err != nil {
		return err
	}
	if err := o.emptyNode(ctx, node, drain); err != nil {
		return err
	}
	if err := o.stopNode(ctx, p, upperObjs); err != nil {
		return err
	}
	if err := o.deleteNode(ctx, node); err != nil {
		return err
	}
	if err := o.deleteAll(ctx, o.Upper, upperObjs); err != nil {
		return err
	}
	owner := translate.Owner{VirtualNode: node, UpperCluster: upperID}
	if err := o.deleteCopies(ctx, owner); err != nil {
		return err
	}
	if err := o.deleteAll(ctx, o.Lower, lowerObjs); err != nil {
		return err
	}
	for _, c := range []*Cluster{o.Upper, o.Lower} {
		if err := o.deleteJoinNamespaces(ctx, c, append(upperObjs, lowerObjs...)); err != nil {
			return err
		}
	}
	fmt.Fprintf(o.Out, "%s unjoined\n", node)
	return nil
}

// listOwned lists everything in c that carries p's marks, in JoinKinds order.
func listOwned(ctx context.Context, c *Cluster, p Plan) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, k := range JoinKinds {
		l, err := c.List(ctx, k, p.Selector())
		if err != nil {
			return nil, err
		}
		out = append(out, l...)
	}
	return out, nil
}

// checkUnjoin refuses to unjoin a node that is not joined, or with a lower kubeconfig
// of another cluster than the one the node stands for.
func checkUnjoin(p Plan, upperID, lowerID string, upperObjs, lowerObjs []*unstructured.Unstructured, lower *Cluster) error {
	if len(upperObjs) == 0 && len(lowerObjs) == 0 {
		return fmt.Errorf("%s is not joined: nothing in either cluster carries the labels %s", p.Node, p.Selector())
	}
	for _, obj := range upperObjs {
		if l, ok := obj.GetAnnotations()[AnnotationLowerCluster]; ok && l != lowerID {
			return fmt.Errorf("%s stands for the lower cluster with kube-system UID %s, but %s has %s: wrong --lower-kubeconfig",
				p.Node, l, lower, lowerID)
		}
	}
	for _, obj := range lowerObjs {
		if obj.GetName() != RecordName || obj.GetKind() != KindConfigMap.Kind {
			continue
		}
		if up, _, _ := unstructured.NestedString(obj.Object, "data", RecordKeyUpperCluster); up != upperID {
			return fmt.Errorf("%s is joined as %s of another upper cluster (kube-system UID %s), not this one (%s): wrong --upper-kubeconfig",
				lower, p.Node, up, upperID)
		}
	}
	return nil
}

// emptyNode cordons the node and, while pods run on it, refuses or (drain) evicts them
// and waits until they are gone.
func (o Options) emptyNode(ctx context.Context, node string, drain bool) error {
	patch := []byte(`{"spec":{"unschedulable":true}}`)
	_, err := o.Upper.Kube.CoreV1().Nodes().Patch(ctx, node, types.StrategicMergePatchType, patch, metav1.PatchOptions{FieldManager: FieldManager})
	switch {
	case apierrors.IsNotFound(err):
		fmt.Fprintf(o.Out, "upper  Node %s: none (the virtual node is not registered)\n", node)
	case err != nil:
		return fmt.Errorf("%s: cordoning %s: %w", o.Upper, node, err)
	default:
		fmt.Fprintf(o.Out, "upper  %-75s cordoned\n", "Node "+node)
	}
	pods, err := o.podsOn(ctx, node)
	if err != nil || len(pods) == 0 {
		return err
	}
	if !drain {
		names := make([]string, len(pods))
		for i, p := range pods {
			names[i] = p.Namespace + "/" + p.Name
		}
		return fmt.Errorf("%d pods run on %s: %s; the node stays cordoned: move them away or re-run with --drain (or `kubectl uncordon %s` to keep it)",
			len(pods), node, strings.Join(names, ", "), node)
	}
	return o.drain(ctx, node, pods)
}

// podsOn lists the pods on node that have not terminated, except DaemonSet pods: those
// belong to the node (they go with it) and their controller would put them back.
func (o Options) podsOn(ctx context.Context, node string) ([]corev1.Pod, error) {
	l, err := o.Upper.Kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		return nil, fmt.Errorf("%s: listing pods on %s: %w", o.Upper, node, err)
	}
	var out []corev1.Pod
	for _, p := range l.Items {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if c := metav1.GetControllerOf(&p); c != nil && c.Kind == "DaemonSet" {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// drain evicts pods (retrying while a disruption budget refuses) and waits for every
// pod to leave node.
func (o Options) drain(ctx context.Context, node string, pods []corev1.Pod) error {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	for _, p := range pods {
		ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace}}
		var last error
		err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
			last = o.Upper.Kube.CoreV1().Pods(p.Namespace).EvictV1(ctx, ev)
			if apierrors.IsTooManyRequests(last) {
				return false, nil // a PodDisruptionBudget: wait for it
			}
			return last == nil || apierrors.IsNotFound(last), last
		})
		if err != nil {
			return fmt.Errorf("%s: evicting pod %s/%s: %w", o.Upper, p.Namespace, p.Name, errors.Join(err, last))
		}
		fmt.Fprintf(o.Out, "upper  %-75s evicted\n", "Pod "+p.Namespace+"/"+p.Name)
	}
	var left []corev1.Pod
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		var err error
		left, err = o.podsOn(ctx, node)
		return err == nil && len(left) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("%d pods still on %s after %v (drain timeout)", len(left), node, o.Timeout)
	}
	return nil
}

// stopNode deletes the join's Deployment and waits until none of its pods is left and
// no replica holds the node's leader Lease: a virtual node still running would
// register the Node again and recreate lower copies.
func (o Options) stopNode(ctx context.Context, p Plan, upperObjs []*unstructured.Unstructured) error {
	var selectors []struct{ ns, sel string }
	for _, obj := range upperObjs {
		if obj.GroupVersionKind() != KindDeployment.GroupVersionKind {
			continue
		}
		d := &appsv1.Deployment{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, d); err != nil {
			return err
		}
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil {
			return err
		}
		selectors = append(selectors, struct{ ns, sel string }{d.Namespace, sel.String()})
		if err := o.Upper.Delete(ctx, obj); err != nil {
			return err
		}
		o.report(o.Upper, obj, Deleted)
	}
	var why string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, o.Timeout, true, func(ctx context.Context) (bool, error) {
		for _, s := range selectors {
			pods, err := o.Upper.Kube.CoreV1().Pods(s.ns).List(ctx, metav1.ListOptions{LabelSelector: s.sel})
			if err != nil || len(pods.Items) > 0 {
				why = fmt.Sprintf("the Deployment's pods are still there (%v)", err)
				return false, nil
			}
		}
		lease, err := o.Upper.Kube.CoordinationV1().Leases(LeaderLeaseNamespace).Get(ctx, "virtual-node-"+p.Node, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return true, nil
		case err != nil:
			why = err.Error()
			return false, nil
		}
		s := lease.Spec
		if s.HolderIdentity == nil || *s.HolderIdentity == "" || s.RenewTime == nil || s.LeaseDurationSeconds == nil ||
			time.Since(s.RenewTime.Time) > time.Duration(*s.LeaseDurationSeconds)*time.Second {
			return true, nil
		}
		why = fmt.Sprintf("Lease %s/%s is held by %s", LeaderLeaseNamespace, lease.Name, *s.HolderIdentity)
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("the virtual node %s still runs after %v: %s; stop it, then re-run unjoin", p.Node, o.Timeout, why)
	}
	return nil
}

// deleteNode deletes what the virtual node made for itself above: the Node, its Lease
// and leader Lease, and its ClusterSummary.
func (o Options) deleteNode(ctx context.Context, node string) error {
	del := func(what string, err error) error {
		switch {
		case apierrors.IsNotFound(err):
			return nil
		case err != nil:
			return fmt.Errorf("%s: deleting %s: %w", o.Upper, what, err)
		}
		fmt.Fprintf(o.Out, "upper  %-75s %s\n", what, Deleted)
		return nil
	}
	if err := del("Node "+node, o.Upper.Kube.CoreV1().Nodes().Delete(ctx, node, metav1.DeleteOptions{})); err != nil {
		return err
	}
	leases := o.Upper.Kube.CoordinationV1().Leases(LeaderLeaseNamespace)
	for _, name := range []string{node, "virtual-node-" + node} {
		if err := del("Lease "+LeaderLeaseNamespace+"/"+name, leases.Delete(ctx, name, metav1.DeleteOptions{})); err != nil {
			return err
		}
	}
	summaries := o.Upper.Tensile.TensileV1alpha1().ClusterSummaries()
	cs, err := summaries.Get(ctx, node, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("%s: reading ClusterSummary %s: %w", o.Upper, node, err)
	}
	if cs.Status.VirtualNode != node {
		return nil // not the virtual node's summary
	}
	return del("ClusterSummary "+node, summaries.Delete(ctx, node, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: ptrTo(cs.GetUID())}}))
}

// deleteAll deletes objs (the namespace excepted) and reports each.
func (o Options) deleteAll(ctx context.Context, c *Cluster, objs []*unstructured.Unstructured) error {
	for _, obj := range objs {
		if obj.GroupVersionKind() == KindDeployment.GroupVersionKind {
			continue // stopNode deleted it
		}
		if err := c.Delete(ctx, obj); err != nil {
			return err
		}
		o.report(c, obj, Deleted)
	}
	return nil
}

// deleteCopies deletes every lower object that owner's marks say the virtual node
// made, pods first. A namespace it made goes only when no pod of anyone else is in it.
func (o Options) deleteCopies(ctx context.Context, owner translate.Owner) error {
	sel := owner.Selector().String()
	for _, k := range CopyKinds {
		objs, err := o.Lower.List(ctx, k, sel)
		if err != nil {
			return err
		}
		for _, obj := range objs {
			if k == KindNamespace {
				if foreign, err := o.foreignPods(ctx, obj.GetName(), owner); err != nil {
					return err
				} else if foreign > 0 {
					fmt.Fprintf(o.Out, "lower  %-75s kept: %d pods of others in it\n", Describe(obj), foreign)
					continue
				}
			}
			if err := o.Lower.Delete(ctx, obj); err != nil {
				return err
			}
			o.report(o.Lower, obj, Deleted)
		}
	}
	return nil
}

func (o Options) foreignPods(ctx context.Context, ns string, owner translate.Owner) (int, error) {
	pods, err := o.Lower.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, fmt.Errorf("%s: listing pods in %s: %w", o.Lower, ns, err)
	}
	n := 0
	for _, p := range pods.Items {
		if !owner.Owns(&p) {
			n++
		}
	}
	return n, nil
}

// deleteJoinNamespaces deletes the namespaces join created (LabelManagedBy only, see
// Plan.NamespaceObject) that held objs, once no other join's object is in them.
func (o Options) deleteJoinNamespaces(ctx context.Context, c *Cluster, objs []*unstructured.Unstructured) error {
	var names []string
	for _, obj := range objs {
		if ns := obj.GetNamespace(); ns != "" && !slices.Contains(names, ns) {
			names = append(names, ns)
		}
	}
	for _, name := range names {
		ns, err := c.Get(ctx, (&Plan{Namespace: name}).NamespaceObject())
		if err != nil {
			return err
		}
		if ns == nil || ns.GetLabels()[LabelManagedBy] != ValueManagedBy {
			continue // not made by join
		}
		others, err := c.Kube.CoreV1().ServiceAccounts(name).List(ctx, metav1.ListOptions{LabelSelector: LabelManagedBy + "=" + ValueManagedBy})
		if err != nil {
			return fmt.Errorf("%s: listing ServiceAccounts in %s: %w", c, name, err)
		}
		if n := len(others.Items); n > 0 {
			fmt.Fprintf(o.Out, "%-5s  %-75s kept: %d other joins use it\n", c.Role, Describe(ns), n)
			continue
		}
		if err := c.Delete(ctx, ns); err != nil {
			return err
		}
		o.report(c, ns, Deleted)
	}
	return nil
}
