// Package join joins a lower Kubernetes cluster to an upper one as a virtual node, shows
// the virtual nodes, and removes a join again: the logic of the tensilectl command.
//
// The objects it creates are built here from the embedded manifests (package
// manifests), so a join grants exactly the rules manifests/virtual-node/rbac-*.yaml
// grant and runs the Deployment of manifests/virtual-node/deployment.yaml. Every object
// carries LabelManagedBy=ValueManagedBy and LabelJoinedNode=<node>: unjoin removes
// only what carries both, and never an object someone else made.
package join

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/yaml"

	"github.com/tensile-kube/tensile/internal/translate"
)

// Marks on everything join creates.
const (
	// LabelManagedBy is the well-known label naming the tool that manages an object.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ValueManagedBy is LabelManagedBy's value on what join creates.
	ValueManagedBy = "tensilectl"
	// LabelJoinedNode names the virtual node an object was created for.
	LabelJoinedNode = "tensile.dev/joined-node"
	// LabelJoinRecord marks the ConfigMap that records a join in the lower cluster.
	LabelJoinRecord = "tensile.dev/join-record"
	// AnnotationLowerCluster, on the upper Deployment and Secret, is the UID of the lower
	// cluster's kube-system namespace: which lower cluster the node stands for.
	AnnotationLowerCluster = "tensile.dev/lower-cluster"
	// AnnotationKubeconfigHash, on the Deployment's pod template, is a digest of the
	// lower kubeconfig: a new kubeconfig restarts the virtual node.
	AnnotationKubeconfigHash = "tensile.dev/kubeconfig-hash"
	// RecordName is the name of the join record ConfigMap: one per lower cluster, so a
	// lower cluster is joined at most once.
	RecordName = "tensile-join"
	// Record data keys.
	RecordKeyNode         = "node"
	RecordKeyUpperCluster = "upperCluster"
	RecordKeyUpperServer  = "upperServer"
)

// Manifest paths inside manifests.VirtualNode.
const (
	ManifestDeployment = "virtual-node/deployment.yaml"
	ManifestRBACUpper  = "virtual-node/rbac-upper.yaml"
	ManifestRBACLower  = "virtual-node/rbac-lower.yaml"
)

// Plan says what to create for one virtual node. Node and Namespace are required;
// the cluster identities are the UIDs of each cluster's kube-system namespace.
type Plan struct {
	// Node is the virtual node's name in the upper cluster.
	Node string
	// Namespace holds, in both clusters, the ServiceAccount, the Secrets, the join record
	// and the Deployment.
	Namespace string
	// Image is the virtual-node image the Deployment runs.
	Image string
	// LowerNamespace, when set, is the virtual node's --lower-namespace template (with
	// {node} in it, two nodes of one upper cluster can share the lower cluster).
	LowerNamespace string
	// UpperCluster and LowerCluster identify the clusters.
	UpperCluster, LowerCluster string
	// UpperServer is the upper API server's URL, recorded for people reading the record.
	UpperServer string
	// Manifests is a file system with the Manifest* files (manifests.VirtualNode).
	Manifests fs.FS
}

// Validate checks the names that become object names.
func (p Plan) Validate() error {
	var errs []error
	// The longest name derived from the node is "tensile-<node>-token", a Secret name
	// (subdomain); the Deployment "tensile-<node>" must be a label for its pods' names.
	if msgs := validation.IsDNS1123Label("tensile-" + p.Node + "-lower"); p.Node == "" || len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("--name %q: want a DNS label of at most %d characters: %s", p.Node,
			validation.DNS1123LabelMaxLength-len("tensile--lower"), strings.Join(msgs, "; ")))
	}
	if msgs := validation.IsDNS1123Label(p.Namespace); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("--namespace %q: %s", p.Namespace, strings.Join(msgs, "; ")))
	}
	if p.LowerNamespace != "" {
		// The node's own check, with a stand-in cluster ID: the real one is known above.
		owner := translate.Owner{VirtualNode: p.Node, UpperCluster: "c"}
		if _, err := translate.ParseNamespaceMap(p.LowerNamespace, owner); err != nil {
			errs = append(errs, fmt.Errorf("--lower-namespace: %w", err))
		}
	}
	return errors.Join(errs...)
}

// ServiceAccount is the name of the virtual node's ServiceAccount, in both clusters.
func (p Plan) ServiceAccount() string { return "tensile-" + p.Node }

// Deployment is the name of the upper Deployment that runs the virtual node.
func (p Plan) Deployment() string { return "tensile-" + p.Node }

// KubeconfigSecret is the name of the upper Secret with the lower kubeconfig.
func (p Plan) KubeconfigSecret() string { return "tensile-" + p.Node + "-lower" }

// TokenSecret is the name of the lower ServiceAccount token Secret.
func (p Plan) TokenSecret() string { return "tensile-" + p.Node + "-token" }

// Labels returns the marks of everything join creates for p.Node.
func (p Plan) Labels() map[string]string {
	return map[string]string{LabelManagedBy: ValueManagedBy, LabelJoinedNode: p.Node}
}

// Selector is Labels as a label selector.
func (p Plan) Selector() string {
	return LabelManagedBy + "=" + ValueManagedBy + "," + LabelJoinedNode + "=" + p.Node
}

// Owned reports whether an object carries p's marks.
func (p Plan) Owned(labels map[string]string) bool {
	return labels[LabelManagedBy] == ValueManagedBy && labels[LabelJoinedNode] == p.Node
}

// NamespaceObject returns the namespace object join creates when it is missing.
func (p Plan) NamespaceObject() *unstructured.Unstructured {
	u := newObject("v1", "Namespace", "", p.Namespace)
	// Shared by every join into this namespace: no node label, removed with the last.
	u.SetLabels(map[string]string{LabelManagedBy: ValueManagedBy})
	return u
}

// LowerObjects returns what join creates in the lower cluster besides the namespace:
// the ServiceAccount and RBAC of rbac-lower.yaml, the ServiceAccount's token Secret and
// the join record.
func (p Plan) LowerObjects() ([]*unstructured.Unstructured, error) {
	objs, err := p.rbac(ManifestRBACLower)
	if err != nil {
		return nil, err
	}
	tok := newObject("v1", "Secret", p.Namespace, p.TokenSecret())
	tok.SetAnnotations(map[string]string{corev1.ServiceAccountNameKey: p.ServiceAccount()})
	tok.Object["type"] = string(corev1.SecretTypeServiceAccountToken)
	rec := newObject("v1", "ConfigMap", p.Namespace, RecordName)
	rec.Object["data"] = map[string]any{RecordKeyNode: p.Node, RecordKeyUpperCluster: p.UpperCluster, RecordKeyUpperServer: p.UpperServer}
	objs = append(objs, tok, rec)
	for _, o := range []*unstructured.Unstructured{tok, rec} {
		p.mark(o)
	}
	rec.SetLabels(mergeMaps(rec.GetLabels(), map[string]string{LabelJoinRecord: "true"}))
	return objs, nil
}

// UpperObjects returns what join creates in the upper cluster besides the namespace:
// the ServiceAccount and RBAC of rbac-upper.yaml, the Secret with lowerKubeconfig, and
// the Deployment of deployment.yaml.
func (p Plan) UpperObjects(lowerKubeconfig []byte) ([]*unstructured.Unstructured, error) {
	objs, err := p.rbac(ManifestRBACUpper)
	if err != nil {
		return nil, err
	}
	dep, key, err := p.deployment()
	if err != nil {
		return nil, err
	}
	sec := newObject("v1", "Secret", p.Namespace, p.KubeconfigSecret())
	sec.Object["type"] = string(corev1.SecretTypeOpaque)
	sec.Object["data"] = map[string]any{key: base64.StdEncoding.EncodeToString(lowerKubeconfig)}
	// The virtual node reads its kubeconfig once, at start: a new one (a rotated
	// token) must roll the pods, and the same one must not.
	sum := sha256.Sum256(lowerKubeconfig)
	if err := unstructured.SetNestedField(dep.Object, hex.EncodeToString(sum[:8]), "spec", "template", "metadata", "annotations", AnnotationKubeconfigHash); err != nil {
		return nil, err
	}
	for _, o := range []*unstructured.Unstructured{sec, dep} {
		p.mark(o)
		o.SetAnnotations(mergeMaps(o.GetAnnotations(), map[string]string{AnnotationLowerCluster: p.LowerCluster}))
	}
	return append(objs, sec, dep), nil
}

// mark adds p's labels to o.
func (p Plan) mark(o *unstructured.Unstructured) {
	o.SetLabels(mergeMaps(o.GetLabels(), p.Labels()))
}

// rbac reads a manifest of a ServiceAccount and its RBAC and renames it for p: the
// ServiceAccount to ServiceAccount() in p.Namespace, roles and bindings to
// "<name>:<node>", with bindings' references to them and to the ServiceAccount
// rewritten. References to roles the manifest does not define (a built-in Role) stay.
// Namespaced roles and bindings keep their namespace: it is where they grant.
func (p Plan) rbac(file string) ([]*unstructured.Unstructured, error) {
	objs, err := readManifest(p.Manifests, file)
	if err != nil {
		return nil, err
	}
	type ref struct{ kind, namespace, name string }
	renamed := map[ref]string{}
	var sa *unstructured.Unstructured
	for _, o := range objs {
		switch o.GetKind() {
		case "ServiceAccount":
			if sa != nil {
				return nil, fmt.Errorf("%s: more than one ServiceAccount", file)
			}
			sa = o
		case "ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding":
			renamed[ref{o.GetKind(), o.GetNamespace(), o.GetName()}] = o.GetName() + ":" + p.Node
		default:
			return nil, fmt.Errorf("%s: unexpected kind %s (want a ServiceAccount and its RBAC)", file, o.GetKind())
		}
	}
	if sa == nil {
		return nil, fmt.Errorf("%s: no ServiceAccount", file)
	}
	saNS, saName := sa.GetNamespace(), sa.GetName()
	for _, o := range objs {
		switch o.GetKind() {
		case "ServiceAccount":
			o.SetNamespace(p.Namespace)
			o.SetName(p.ServiceAccount())
		case "ClusterRoleBinding", "RoleBinding":
			if err := p.rebind(o, file, saNS, saName, func(kind, name string) (string, bool) {
				ns := o.GetNamespace()
				if kind == "ClusterRole" {
					ns = ""
				}
				n, ok := renamed[ref{kind, ns, name}]
				return n, ok
			}); err != nil {
				return nil, err
			}
			fallthrough
		default:
			o.SetName(renamed[ref{o.GetKind(), o.GetNamespace(), o.GetName()}])
		}
		p.mark(o)
	}
	return objs, nil
}

// rebind points a binding's roleRef at the renamed role (when the manifest defines it)
// and its ServiceAccount subject at p's ServiceAccount.
func (p Plan) rebind(o *unstructured.Unstructured, file, saNS, saName string, rename func(kind, name string) (string, bool)) error {
	kind, _, _ := unstructured.NestedString(o.Object, "roleRef", "kind")
	name, _, _ := unstructured.NestedString(o.Object, "roleRef", "name")
	if n, ok := rename(kind, name); ok {
		if err := unstructured.SetNestedField(o.Object, n, "roleRef", "name"); err != nil {
			return err
		}
	}
	subjects, _, err := unstructured.NestedSlice(o.Object, "subjects")
	if err != nil {
		return fmt.Errorf("%s: %s %s: subjects: %w", file, o.GetKind(), o.GetName(), err)
	}
	found := false
	for _, s := range subjects {
		m, ok := s.(map[string]any)
		if ok && m["kind"] == "ServiceAccount" && m["name"] == saName && m["namespace"] == saNS {
			m["name"], m["namespace"] = p.ServiceAccount(), p.Namespace
			found = true
		}
	}
	if !found {
		return fmt.Errorf("%s: %s %s does not bind the ServiceAccount %s/%s", file, o.GetKind(), o.GetName(), saNS, saName)
	}
	return unstructured.SetNestedSlice(o.Object, subjects, "subjects")
}

// deployment reads deployment.yaml and makes it run node p.Node: its name, namespace,
// node-name argument and labels, ServiceAccount, image, and the Secret mounted where
// --client-kubeconfig points. It also returns the Secret key the kubeconfig goes in.
func (p Plan) deployment() (*unstructured.Unstructured, string, error) {
	objs, err := readManifest(p.Manifests, ManifestDeployment)
	if err != nil {
		return nil, "", err
	}
	if len(objs) != 1 || objs[0].GetKind() != "Deployment" {
		return nil, "", fmt.Errorf("%s: want exactly one Deployment", ManifestDeployment)
	}
	d := &appsv1.Deployment{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(objs[0].Object, d); err != nil {
		return nil, "", fmt.Errorf("%s: %w", ManifestDeployment, err)
	}
	spec := &d.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		return nil, "", fmt.Errorf("%s: want one container, found %d", ManifestDeployment, len(spec.Containers))
	}
	c := &spec.Containers[0]
	oldNode, kubeconfigPath := argValue(c.Args, "--nodename"), argValue(c.Args, "--client-kubeconfig")
	if oldNode == "" || kubeconfigPath == "" {
		return nil, "", fmt.Errorf("%s: the container has no --nodename=... or --client-kubeconfig=... argument", ManifestDeployment)
	}
	for i, a := range c.Args {
		if a == "--nodename="+oldNode {
			c.Args[i] = "--nodename=" + p.Node
		}
	}
	volume := ""
	for _, m := range c.VolumeMounts {
		if m.MountPath == path.Dir(kubeconfigPath) {
			volume = m.Name
		}
	}
	found := false
	for i := range spec.Volumes {
		if v := &spec.Volumes[i]; v.Name == volume && v.Secret != nil {
			v.Secret.SecretName, found = p.KubeconfigSecret(), true
		}
	}
	if !found {
		return nil, "", fmt.Errorf("%s: no Secret volume is mounted at %s, where --client-kubeconfig points", ManifestDeployment, path.Dir(kubeconfigPath))
	}
	if p.Image != "" {
		c.Image = p.Image
	}
	if p.LowerNamespace != "" {
		c.Args = append(c.Args, "--lower-namespace="+p.LowerNamespace)
	}
	spec.ServiceAccountName = p.ServiceAccount()
	d.Name, d.Namespace = p.Deployment(), p.Namespace
	for _, l := range []map[string]string{d.Labels, d.Spec.Template.Labels, selectorLabels(d)} {
		for k, v := range l {
			if v == oldNode {
				l[k] = p.Node
			}
		}
	}
	// A rendered chart says its pods are Helm's; these are tensilectl's.
	if _, ok := d.Spec.Template.Labels[LabelManagedBy]; ok {
		d.Spec.Template.Labels[LabelManagedBy] = ValueManagedBy
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(d)
	if err != nil {
		return nil, "", err
	}
	obj := &unstructured.Unstructured{Object: u}
	delete(obj.Object, "status")
	unstructured.RemoveNestedField(obj.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(obj.Object, "spec", "template", "metadata", "creationTimestamp")
	obj.SetAPIVersion("apps/v1")
	obj.SetKind("Deployment")
	return obj, path.Base(kubeconfigPath), nil
}

func selectorLabels(d *appsv1.Deployment) map[string]string {
	if d.Spec.Selector == nil {
		return nil
	}
	return d.Spec.Selector.MatchLabels
}

// argValue returns the value of "--flag=value" in args ("" when absent).
func argValue(args []string, flag string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v
		}
	}
	return ""
}

// readManifest decodes every object of a multi-document YAML file.
func readManifest(fsys fs.FS, file string) ([]*unstructured.Unstructured, error) {
	if fsys == nil {
		return nil, errors.New("no manifests given")
	}
	b, err := fs.ReadFile(fsys, file)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if len(u.Object) == 0 {
			continue // an empty document: a rendered chart has them
		}
		if _, err := Lookup(u.GroupVersionKind()); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		out = append(out, u)
	}
}

// Kind is a kind tensilectl reads, creates or deletes, with its resource.
type Kind struct {
	schema.GroupVersionKind
	// Resource is the kind's plural resource name.
	Resource string
	// ClusterScoped is true for kinds without a namespace.
	ClusterScoped bool
}

// GVR returns the kind's group, version and resource.
func (k Kind) GVR() schema.GroupVersionResource { return k.GroupVersion().WithResource(k.Resource) }

func kind(group, version, name, resource string, clusterScoped bool) Kind {
	return Kind{GroupVersionKind: schema.GroupVersionKind{Group: group, Version: version, Kind: name}, Resource: resource, ClusterScoped: clusterScoped}
}

// The kinds join creates, in the order unjoin deletes them: the workload first. The
// namespace is not among them: unjoin decides about it on its own.
var (
	KindDeployment         = kind("apps", "v1", "Deployment", "deployments", false)
	KindSecret             = kind("", "v1", "Secret", "secrets", false)
	KindConfigMap          = kind("", "v1", "ConfigMap", "configmaps", false)
	KindClusterRoleBinding = kind("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", true)
	KindRoleBinding        = kind("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", false)
	KindClusterRole        = kind("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", true)
	KindRole               = kind("rbac.authorization.k8s.io", "v1", "Role", "roles", false)
	KindServiceAccount     = kind("", "v1", "ServiceAccount", "serviceaccounts", false)
	KindNamespace          = kind("", "v1", "Namespace", "namespaces", true)

	JoinKinds = []Kind{KindDeployment, KindSecret, KindConfigMap, KindClusterRoleBinding, KindRoleBinding,
		KindClusterRole, KindRole, KindServiceAccount}
)

// Kinds of the copies a virtual node makes in its lower cluster (internal/provider,
// internal/reflector), in the order unjoin deletes them: pods first, namespaces last.
var (
	KindPod           = kind("", "v1", "Pod", "pods", false)
	KindService       = kind("", "v1", "Service", "services", false)
	KindEndpointSlice = kind("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", false)
	KindPVC           = kind("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", false)
	// KindLease: the anchor Lease in each lower namespace, the controller of the node's
	// lower pods (internal/provider/anchor.go).
	KindLease = kind("coordination.k8s.io", "v1", "Lease", "leases", false)

	CopyKinds = []Kind{KindPod, KindService, KindEndpointSlice, KindConfigMap, KindSecret, KindPVC, KindServiceAccount, KindLease, KindNamespace}
)

// Lookup returns the Kind of gvk, or an error for a kind tensilectl does not handle.
func Lookup(gvk schema.GroupVersionKind) (Kind, error) {
	for _, k := range append(append([]Kind{KindNamespace}, JoinKinds...), CopyKinds...) {
		if k.GroupVersionKind == gvk {
			return k, nil
		}
	}
	return Kind{}, fmt.Errorf("kind %s is not one tensilectl handles", gvk)
}

func newObject(apiVersion, kind, namespace, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(namespace)
	u.SetName(name)
	return u
}

func mergeMaps(a, b map[string]string) map[string]string {
	out := make(map[string]string, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// Describe names an object for people: "Kind namespace/name" or "Kind name".
func Describe(o interface {
	GetKind() string
	GetNamespace() string
	GetName() string
}) string {
	if o.GetNamespace() == "" {
		return o.GetKind() + " " + o.GetName()
	}
	return o.GetKind() + " " + o.GetNamespace() + "/" + o.GetName()
}
