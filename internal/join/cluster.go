package join

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/version"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/tensile-kube/tensile/pkg/generated/clientset/versioned"
)

// FieldManager is the server-side apply field manager of everything join writes.
const FieldManager = "tensilectl"

// MinVersion is the oldest Kubernetes release join accepts in either cluster. The
// virtual node is built with client-go of 1.37 and tested against 1.37 only; the
// upstream client/server skew policy supports servers down to three minors older, so
// an older cluster is refused rather than joined on hope.
var MinVersion = version.MajorMinor(1, 34)

// Cluster is one cluster as tensilectl reaches it.
type Cluster struct {
	// Role names the cluster in messages: "upper" or "lower".
	Role string
	// Source is where the configuration came from (the kubeconfig path), for messages.
	Source string
	// Config is the client configuration; its Host is the API server's URL.
	Config *rest.Config
	// Kube, Dynamic and Tensile (the tensile.dev typed client) are clients of Config.
	Kube    kubernetes.Interface
	Dynamic dynamic.Interface
	Tensile versioned.Interface
}

// LoadCluster reads a kubeconfig (path empty: $KUBECONFIG or ~/.kube/config) with an
// optional context, and makes clients for it. It does not contact the cluster.
func LoadCluster(role, path, kubeContext string) (*Cluster, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	source := "$KUBECONFIG or ~/.kube/config"
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("%s kubeconfig: %w", role, err)
		}
		rules.ExplicitPath, source = path, path
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules,
		&clientcmd.ConfigOverrides{CurrentContext: kubeContext}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("%s kubeconfig %s is not usable: %w", role, source, err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	cfg.UserAgent = "tensilectl"
	return newCluster(role, source, cfg)
}

func newCluster(role, source string, cfg *rest.Config) (*Cluster, error) {
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s cluster: %w", role, err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s cluster: %w", role, err)
	}
	tensile, err := versioned.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s cluster: %w", role, err)
	}
	return &Cluster{Role: role, Source: source, Config: cfg, Kube: kube, Dynamic: dyn, Tensile: tensile}, nil
}

// String names the cluster in messages.
func (c *Cluster) String() string {
	return fmt.Sprintf("%s cluster (%s, kubeconfig %s)", c.Role, c.Config.Host, c.Source)
}

// Reachable asks the API server for its version within timeout and returns it. It
// tells an unreachable server from refused credentials.
func (c *Cluster) Reachable(timeout time.Duration) (*version.Version, error) {
	cfg := rest.CopyConfig(c.Config)
	cfg.Timeout = timeout
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	info, err := kube.Discovery().ServerVersion()
	switch {
	case apierrors.IsUnauthorized(err):
		return nil, fmt.Errorf("%s refuses the kubeconfig's credentials (401 Unauthorized)", c)
	case apierrors.IsForbidden(err):
		return nil, fmt.Errorf("%s: the kubeconfig's identity may not even read the version: %w", c, err)
	case err != nil:
		return nil, fmt.Errorf("%s is unreachable: %w", c, err)
	}
	v, err := version.ParseGeneric(info.GitVersion)
	if err != nil {
		return nil, fmt.Errorf("%s reports version %q: %w", c, info.GitVersion, err)
	}
	return v, nil
}

// CheckVersion refuses a cluster older than MinVersion.
func (c *Cluster) CheckVersion(v *version.Version) error {
	if v.LessThan(MinVersion) {
		return fmt.Errorf("%s runs Kubernetes %s; tensilectl needs %d.%d or newer", c, v, MinVersion.Major(), MinVersion.Minor())
	}
	return nil
}

// Access is one permission join or unjoin needs.
type Access struct {
	Verb, Group, Resource, Namespace string
}

func (a Access) String() string {
	r := a.Resource
	if a.Group != "" {
		r += "." + a.Group
	}
	if a.Namespace != "" {
		return fmt.Sprintf("%s %s in namespace %s", a.Verb, r, a.Namespace)
	}
	return a.Verb + " " + r
}

// CheckAccess asks the API server (SelfSubjectAccessReview) whether the kubeconfig's
// identity has each permission, and lists every one it lacks in one error.
func (c *Cluster) CheckAccess(ctx context.Context, need []Access) error {
	var denied []string
	for _, a := range need {
		r, err := c.Kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: a.Verb, Group: a.Group, Resource: a.Resource, Namespace: a.Namespace,
			}},
		}, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("%s: checking permissions: %w", c, err)
		}
		if !r.Status.Allowed {
			denied = append(denied, a.String())
		}
	}
	if len(denied) > 0 {
		return fmt.Errorf("%s: the kubeconfig's identity is not allowed to: %s", c, strings.Join(denied, ", "))
	}
	return nil
}

// ID returns the UID of the cluster's kube-system namespace: the virtual node's own
// default identity of the upper cluster (--upper-cluster-id), and how a join record
// names clusters.
func (c *Cluster) ID(ctx context.Context) (string, error) {
	ns, err := c.Kube.CoreV1().Namespaces().Get(ctx, metav1.NamespaceSystem, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("%s: reading namespace kube-system: %w", c, err)
	}
	return string(ns.UID), nil
}

// resource returns the dynamic client of an object's kind and namespace.
func (c *Cluster) resource(o *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	k, err := Lookup(o.GroupVersionKind())
	if err != nil {
		return nil, err
	}
	if k.ClusterScoped {
		return c.Dynamic.Resource(k.GVR()), nil
	}
	return c.Dynamic.Resource(k.GVR()).Namespace(o.GetNamespace()), nil
}

// Get reads the live version of o; nil when it does not exist.
func (c *Cluster) Get(ctx context.Context, o *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	ri, err := c.resource(o)
	if err != nil {
		return nil, err
	}
	live, err := ri.Get(ctx, o.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: reading %s: %w", c, Describe(o), err)
	}
	return live, nil
}

// Result is what an apply did to one object.
type Result string

// Results of Apply.
const (
	Created   Result = "created"
	Updated   Result = "updated"
	Unchanged Result = "unchanged"
	Deleted   Result = "deleted"
)

// Apply server-side applies o as FieldManager. With dryRun the API server validates
// and authorizes the write without making it. An apply that changes nothing leaves the
// resourceVersion as it was; the content is compared too, since a controller may write
// the status between the read and the apply.
func (c *Cluster) Apply(ctx context.Context, o *unstructured.Unstructured, dryRun bool) (Result, error) {
	ri, err := c.resource(o)
	if err != nil {
		return "", err
	}
	live, err := c.Get(ctx, o)
	if err != nil {
		return "", err
	}
	opts := metav1.ApplyOptions{FieldManager: FieldManager, Force: true}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	out, err := ri.Apply(ctx, o.GetName(), o, opts)
	if err != nil {
		what := "applying"
		if dryRun {
			what = "checking (server dry run)"
		}
		return "", fmt.Errorf("%s: %s %s: %w", c, what, Describe(o), err)
	}
	switch {
	case live == nil:
		return Created, nil
	case live.GetResourceVersion() == out.GetResourceVersion(), equality.Semantic.DeepEqual(content(live), content(out)):
		return Unchanged, nil
	}
	return Updated, nil
}

// content is an object without what changes without a write of ours: status (its
// controller writes it, perhaps between our read and our apply) and the bookkeeping
// of metadata.
func content(o *unstructured.Unstructured) map[string]any {
	c := o.DeepCopy()
	delete(c.Object, "status")
	for _, f := range []string{"resourceVersion", "managedFields", "generation"} {
		unstructured.RemoveNestedField(c.Object, "metadata", f)
	}
	return c.Object
}

// Delete deletes an object by name with a UID precondition (only the object that was
// read), in the background; a missing object is no error.
func (c *Cluster) Delete(ctx context.Context, o *unstructured.Unstructured) error {
	ri, err := c.resource(o)
	if err != nil {
		return err
	}
	uid := o.GetUID()
	opts := metav1.DeleteOptions{PropagationPolicy: ptrTo(metav1.DeletePropagationBackground)}
	if uid != "" {
		opts.Preconditions = &metav1.Preconditions{UID: ptrTo(types.UID(uid))}
	}
	if err := ri.Delete(ctx, o.GetName(), opts); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("%s: deleting %s: %w", c, Describe(o), err)
	}
	return nil
}

// List returns the objects of a kind (in every namespace) that match a label selector.
func (c *Cluster) List(ctx context.Context, k Kind, selector string) ([]*unstructured.Unstructured, error) {
	l, err := c.Dynamic.Resource(k.GVR()).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("%s: listing %s: %w", c, k.Resource, err)
	}
	out := make([]*unstructured.Unstructured, len(l.Items))
	for i := range l.Items {
		out[i] = &l.Items[i]
		out[i].SetGroupVersionKind(k.GroupVersionKind)
	}
	return out, nil
}

// Kubeconfig returns a kubeconfig for c's API server (URL, CA, TLS server name and
// proxy as c's kubeconfig has them) that authenticates with token alone.
func (c *Cluster) Kubeconfig(name, token string) ([]byte, error) {
	ca := c.Config.CAData
	if len(ca) == 0 && c.Config.CAFile != "" {
		b, err := os.ReadFile(c.Config.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s: reading its CA: %w", c, err)
		}
		ca = b
	}
	cluster := &clientcmdapi.Cluster{
		Server:                   c.Config.Host,
		CertificateAuthorityData: ca,
		InsecureSkipTLSVerify:    c.Config.Insecure,
		TLSServerName:            c.Config.ServerName,
	}
	if c.Config.Proxy != nil {
		return nil, fmt.Errorf("%s: a kubeconfig with a proxy function cannot be copied", c)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = cluster
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	cfg.CurrentContext = name
	return clientcmd.Write(*cfg)
}

func ptrTo[T any](v T) *T { return &v }
