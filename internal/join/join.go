package join

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
)

// Options are what join, status and unjoin share.
type Options struct {
	// Upper and Lower are the clusters; status needs only Upper.
	Upper, Lower *Cluster
	// Timeout bounds each check and each wait (a token, a node to stop, pods to go).
	Timeout time.Duration
	// Out receives the report: one line per object.
	Out io.Writer
}

// Join checks both clusters and everything it is about to write, then creates, in the
// lower cluster, the ServiceAccount with the lower RBAC, its token Secret and the join
// record, and in the upper cluster the namespace, the kubeconfig Secret, the upper
// RBAC and the Deployment. A failed check writes nothing. Running it again with the
// same arguments changes nothing.
func Join(ctx context.Context, o Options, p Plan) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if err := o.checkClusters(ctx, &p); err != nil {
		return err
	}
	lowerObjs, err := p.LowerObjects()
	if err != nil {
		return err
	}
	// The real kubeconfig needs the token, which exists only once the lower objects do;
	// a placeholder of the same shape lets every upper write be checked first.
	upperObjs, err := p.UpperObjects([]byte("placeholder"))
	if err != nil {
		return err
	}
	if err := o.checkWrites(ctx, p, lowerObjs, upperObjs); err != nil {
		return err
	}

	if err := o.write(ctx, o.Lower, p, lowerObjs); err != nil {
		return fmt.Errorf("%w (re-run join to finish, or unjoin to remove what was made)", err)
	}
	kubeconfig, err := o.lowerKubeconfig(ctx, p)
	if err != nil {
		return fmt.Errorf("%w (re-run join to finish, or unjoin to remove what was made)", err)
	}
	if upperObjs, err = p.UpperObjects(kubeconfig); err != nil {
		return err
	}
	if err := o.write(ctx, o.Upper, p, upperObjs); err != nil {
		return fmt.Errorf("%w (re-run join to finish, or unjoin to remove what was made)", err)
	}
	fmt.Fprintf(o.Out, "%s joined: the virtual node registers when Deployment %s/%s runs\n", p.Node, p.Namespace, p.Deployment())
	return nil
}

// checkClusters checks that both clusters answer, are recent enough, are two different
// clusters, have the CRDs, and that neither the name nor the lower cluster is taken.
// It fills p's cluster identities.
func (o Options) checkClusters(ctx context.Context, p *Plan) error {
	log := klog.FromContext(ctx)
	for _, c := range []*Cluster{o.Upper, o.Lower} {
		v, err := c.Reachable(o.Timeout)
		if err != nil {
			return err
		}
		log.V(2).Info("Cluster reachable", "cluster", c.Role, "server", c.Config.Host, "version", v)
		if err := c.CheckVersion(v); err != nil {
			return err
		}
	}
	if err := o.Upper.CheckAccess(ctx, upperAccess(*p)); err != nil {
		return err
	}
	if err := o.Lower.CheckAccess(ctx, lowerAccess(*p)); err != nil {
		return err
	}
	var err error
	if p.UpperCluster, err = o.Upper.ID(ctx); err != nil {
		return err
	}
	if p.LowerCluster, err = o.Lower.ID(ctx); err != nil {
		return err
	}
	if p.UpperCluster == p.LowerCluster {
		return fmt.Errorf("the upper and lower kubeconfigs reach the same cluster (kube-system UID %s)", p.UpperCluster)
	}
	p.UpperServer = o.Upper.Config.Host
	if err := checkCRDs(o.Upper); err != nil {
		return err
	}
	if err := checkRecord(ctx, o.Lower, *p); err != nil {
		return err
	}
	return checkName(ctx, o.Upper, *p)
}

// upperAccess is what join needs in the upper cluster.
func upperAccess(p Plan) []Access {
	return append(writeAccess(p.Namespace, KindServiceAccount, KindSecret, KindDeployment),
		Access{"create", "", "namespaces", ""}, Access{"get", "", "nodes", ""},
		Access{"list", "apps", "deployments", ""},
		Access{"create", "rbac.authorization.k8s.io", "clusterroles", ""},
		Access{"create", "rbac.authorization.k8s.io", "clusterrolebindings", ""},
		Access{"create", "rbac.authorization.k8s.io", "roles", "kube-node-lease"},
		Access{"create", "rbac.authorization.k8s.io", "rolebindings", "kube-node-lease"},
		Access{"create", "rbac.authorization.k8s.io", "rolebindings", metav1.NamespaceSystem})
}

// lowerAccess is what join needs in the lower cluster.
func lowerAccess(p Plan) []Access {
	return append(writeAccess(p.Namespace, KindServiceAccount, KindSecret, KindConfigMap),
		Access{"create", "", "namespaces", ""}, Access{"list", "", "configmaps", ""},
		Access{"create", "rbac.authorization.k8s.io", "clusterroles", ""},
		Access{"create", "rbac.authorization.k8s.io", "clusterrolebindings", ""})
}

func writeAccess(ns string, kinds ...Kind) []Access {
	var out []Access
	for _, k := range kinds {
		for _, v := range []string{"get", "create", "patch"} {
			out = append(out, Access{v, k.Group, k.Resource, ns})
		}
	}
	return out
}

// checkCRDs refuses an upper cluster without the tensile.dev CRDs the virtual node
// (ClusterSummary) and the scheduler and descheduler (PlacementExclusion) use.
func checkCRDs(c *Cluster) error {
	gv := v1alpha1.SchemeGroupVersion.String()
	list, err := c.Kube.Discovery().ServerResourcesForGroupVersion(gv)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("%s: discovering %s: %w", c, gv, err)
	}
	var missing []string
	for _, r := range []string{v1alpha1.ClusterSummaryResource, v1alpha1.PlacementExclusionResource} {
		if list == nil || !slices.ContainsFunc(list.APIResources, func(a metav1.APIResource) bool { return a.Name == r }) {
			missing = append(missing, r+"."+v1alpha1.GroupName)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s lacks the CRDs %v: apply manifests/crds/ there first", c, missing)
	}
	return nil
}

// checkRecord refuses a lower cluster already joined under another name or to another
// upper cluster (or into another namespace).
func checkRecord(ctx context.Context, c *Cluster, p Plan) error {
	records, err := c.Kube.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{LabelSelector: LabelJoinRecord + "=true"})
	if err != nil {
		return fmt.Errorf("%s: looking for join records: %w", c, err)
	}
	for _, r := range records.Items {
		node, upper := r.Data[RecordKeyNode], r.Data[RecordKeyUpperCluster]
		if node != p.Node || upper != p.UpperCluster {
			return fmt.Errorf("%s is already joined as %s of the upper cluster %s (kube-system UID %s; record ConfigMap %s/%s): unjoin it first",
				c, node, r.Data[RecordKeyUpperServer], upper, r.Namespace, r.Name)
		}
		if r.Namespace != p.Namespace {
			return fmt.Errorf("%s is already joined as %s with --namespace %s", c, node, r.Namespace)
		}
	}
	return nil
}

// checkName refuses a node name that something other than this join uses: a Node
// without this join's Deployment, or this join's Deployment standing for another lower
// cluster or in another namespace.
func checkName(ctx context.Context, c *Cluster, p Plan) error {
	deps, err := c.Kube.AppsV1().Deployments("").List(ctx, metav1.ListOptions{LabelSelector: p.Selector()})
	if err != nil {
		return fmt.Errorf("%s: listing Deployments: %w", c, err)
	}
	for _, d := range deps.Items {
		if d.Namespace != p.Namespace {
			return fmt.Errorf("%s: %s is already joined in namespace %s (Deployment %s): use --namespace %s", c, p.Node, d.Namespace, d.Name, d.Namespace)
		}
		if lower := d.Annotations[AnnotationLowerCluster]; lower != p.LowerCluster {
			return fmt.Errorf("%s: %s is already joined to another lower cluster (kube-system UID %s), not this one (%s): choose another --name", c, p.Node, lower, p.LowerCluster)
		}
	}
	_, err = c.Kube.CoreV1().Nodes().Get(ctx, p.Node, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("%s: reading node %s: %w", c, p.Node, err)
	case len(deps.Items) == 0:
		return fmt.Errorf("%s: the name %s is taken: a node of that name exists and tensilectl did not join it (no Deployment labelled %s)", c, p.Node, p.Selector())
	}
	return nil
}

// checkWrites refuses objects of the same names that are not this join's, then has
// both API servers validate and authorize every write (server dry run).
func (o Options) checkWrites(ctx context.Context, p Plan, lowerObjs, upperObjs []*unstructured.Unstructured) error {
	var errs []error
	for _, cw := range []struct {
		c    *Cluster
		objs []*unstructured.Unstructured
	}{{o.Lower, lowerObjs}, {o.Upper, upperObjs}} {
		for _, obj := range cw.objs {
			live, err := cw.c.Get(ctx, obj)
			if err != nil {
				return err
			}
			if live != nil && !p.Owned(live.GetLabels()) {
				errs = append(errs, fmt.Errorf("%s: %s exists and is not tensilectl's join of %s (labels %s missing)", cw.c, Describe(obj), p.Node, p.Selector()))
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for _, cw := range []struct {
		c    *Cluster
		objs []*unstructured.Unstructured
	}{{o.Lower, lowerObjs}, {o.Upper, upperObjs}} {
		ns, err := cw.c.Get(ctx, p.NamespaceObject())
		if err != nil {
			return err
		}
		for _, obj := range cw.objs {
			// Objects of a namespace that does not exist yet cannot be dry-run: the
			// permission check covered them.
			if ns == nil && obj.GetNamespace() == p.Namespace {
				continue
			}
			if _, err := cw.c.Apply(ctx, obj, true); err != nil {
				return err
			}
		}
	}
	return nil
}

// write creates the namespace when missing and applies objs, reporting each.
func (o Options) write(ctx context.Context, c *Cluster, p Plan, objs []*unstructured.Unstructured) error {
	ns := p.NamespaceObject()
	live, err := c.Get(ctx, ns)
	if err != nil {
		return err
	}
	res := Unchanged
	if live == nil {
		// Created, never applied: a namespace someone else made stays untouched.
		nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: p.Namespace, Labels: ns.GetLabels()}}
		if _, err := c.Kube.CoreV1().Namespaces().Create(ctx, nsObj, metav1.CreateOptions{FieldManager: FieldManager}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("%s: creating namespace %s: %w", c, p.Namespace, err)
		}
		res = Created
	}
	o.report(c, ns, res)
	for _, obj := range objs {
		res, err := c.Apply(ctx, obj, false)
		if err != nil {
			return err
		}
		o.report(c, obj, res)
	}
	return nil
}

func (o Options) report(c *Cluster, obj *unstructured.Unstructured, res Result) {
	fmt.Fprintf(o.Out, "%-5s  %-75s %s\n", c.Role, Describe(obj), res)
}

// lowerKubeconfig waits for the lower token controller to fill the token Secret, and
// returns a kubeconfig with that token once the lower cluster accepts and authorizes it.
func (o Options) lowerKubeconfig(ctx context.Context, p Plan) ([]byte, error) {
	var token []byte
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, o.Timeout, true, func(ctx context.Context) (bool, error) {
		s, err := o.Lower.Kube.CoreV1().Secrets(p.Namespace).Get(ctx, p.TokenSecret(), metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		token = s.Data[corev1.ServiceAccountTokenKey]
		return len(token) > 0, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: Secret %s/%s got no token within %v: does its kube-controller-manager run the token controller (--service-account-private-key-file)?",
			o.Lower, p.Namespace, p.TokenSecret(), o.Timeout)
	}
	kubeconfig, err := o.Lower.Kubeconfig("lower", string(token))
	if err != nil {
		return nil, err
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	c, err := newCluster("lower", "the kubeconfig join wrote", cfg)
	if err != nil {
		return nil, err
	}
	// A fresh binding reaches the authorizer's cache a moment after it is written.
	var last error
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, o.Timeout, true, func(ctx context.Context) (bool, error) {
		_, last = c.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{Limit: 1})
		return last == nil, nil
	})
	if err != nil {
		return nil, fmt.Errorf("the lower kubeconfig join made does not work: listing nodes with it: %w", last)
	}
	return kubeconfig, nil
}
