package join

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/version"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/tensile-kube/tensile/manifests"
)

func testPlan() Plan {
	return Plan{Node: "vk-x", Namespace: "tensile-system", Image: "example/vn:1", UpperCluster: "up-uid",
		LowerCluster: "low-uid", UpperServer: "https://upper", Manifests: manifests.VirtualNode}
}

// byName indexes objects by Describe.
func byName(objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	m := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		m[Describe(o)] = o
	}
	return m
}

// TestRBACKeepsTheManifestsRules: every role join creates has exactly the rules of the
// manifest's role it renames, and every binding names the renamed role (or the
// built-in one) and the join's ServiceAccount.
func TestRBACKeepsTheManifestsRules(t *testing.T) {
	p := testPlan()
	for _, tc := range []struct {
		file string
		objs func() ([]*unstructured.Unstructured, error)
	}{
		{ManifestRBACUpper, func() ([]*unstructured.Unstructured, error) { return p.UpperObjects([]byte("kc")) }},
		{ManifestRBACLower, p.LowerObjects},
	} {
		t.Run(tc.file, func(t *testing.T) {
			orig, err := readManifest(manifests.VirtualNode, tc.file)
			if err != nil {
				t.Fatal(err)
			}
			objs, err := tc.objs()
			if err != nil {
				t.Fatal(err)
			}
			got := byName(objs)
			for _, o := range orig {
				switch o.GetKind() {
				case "ServiceAccount":
					if got["ServiceAccount tensile-system/tensile-vk-x"] == nil {
						t.Errorf("no ServiceAccount tensile-system/tensile-vk-x in %v", keys(got))
					}
					continue
				}
				renamed := o.DeepCopy()
				renamed.SetName(o.GetName() + ":vk-x")
				j := got[Describe(renamed)]
				if j == nil {
					t.Errorf("%s of the manifest has no counterpart %s", Describe(o), Describe(renamed))
					continue
				}
				if !p.Owned(j.GetLabels()) {
					t.Errorf("%s labels %v", Describe(j), j.GetLabels())
				}
				if diff := cmp.Diff(o.Object["rules"], j.Object["rules"]); diff != "" {
					t.Errorf("%s rules differ from the manifest (-manifest +join):\n%s", Describe(j), diff)
				}
				if ref, ok := j.Object["roleRef"].(map[string]any); ok {
					want := o.Object["roleRef"].(map[string]any)["name"].(string)
					if !strings.HasPrefix(want, "extension-apiserver") {
						want += ":vk-x"
					}
					if ref["name"] != want {
						t.Errorf("%s roleRef %v, want name %s", Describe(j), ref, want)
					}
					subj := j.Object["subjects"].([]any)[0].(map[string]any)
					if subj["name"] != "tensile-vk-x" || subj["namespace"] != "tensile-system" {
						t.Errorf("%s subject %v", Describe(j), subj)
					}
				}
			}
		})
	}
}

func keys(m map[string]*unstructured.Unstructured) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestUpperDeploymentAndSecret(t *testing.T) {
	p := testPlan()
	objs, err := p.UpperObjects([]byte("the kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	got := byName(objs)
	dep, sec := got["Deployment tensile-system/tensile-vk-x"], got["Secret tensile-system/tensile-vk-x-lower"]
	if dep == nil || sec == nil {
		t.Fatalf("objects: %v", keys(got))
	}
	for _, o := range []*unstructured.Unstructured{dep, sec} {
		if !p.Owned(o.GetLabels()) || o.GetAnnotations()[AnnotationLowerCluster] != "low-uid" {
			t.Errorf("%s: labels %v annotations %v", Describe(o), o.GetLabels(), o.GetAnnotations())
		}
	}
	if data := sec.Object["data"].(map[string]any)["kubeconfig"]; data != base64.StdEncoding.EncodeToString([]byte("the kubeconfig")) {
		t.Errorf("Secret data %v", sec.Object["data"])
	}
	b, err := json.Marshal(dep.Object)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"--nodename=vk-x"`, `"serviceAccountName":"tensile-vk-x"`, `"secretName":"tensile-vk-x-lower"`,
		`"image":"example/vn:1"`, `"--client-kubeconfig=/etc/tensile/lower/kubeconfig"`, `"--leader-elect"`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("Deployment lacks %s:\n%s", want, b)
		}
	}
	if h, _, _ := unstructured.NestedString(dep.Object, "spec", "template", "metadata", "annotations", AnnotationKubeconfigHash); h != "ed4c1008f0f5cbc2" { // sha256 of "the kubeconfig"
		t.Errorf("pod template kubeconfig hash %q", h)
	}
	if bytes.Contains(b, []byte("--lower-namespace")) {
		t.Errorf("Deployment maps namespaces without --lower-namespace:\n%s", b)
	}
	p.LowerNamespace = "{namespace}-{node}"
	mapped, err := p.UpperObjects([]byte("the kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	if mb, _ := json.Marshal(byName(mapped)["Deployment tensile-system/tensile-vk-x"].Object); !bytes.Contains(mb, []byte(`"--lower-namespace={namespace}-{node}"`)) {
		t.Errorf("Deployment with LowerNamespace lacks --lower-namespace:\n%s", mb)
	}
	// Nothing of the manifest's example node is left, and the pods are not Helm's.
	if bytes.Contains(b, []byte("vk-a")) || bytes.Contains(b, []byte(`"Helm"`)) || bytes.Contains(b, []byte("creationTimestamp")) {
		t.Errorf("Deployment keeps vk-a, Helm or a null creationTimestamp:\n%s", b)
	}
}

func TestLowerObjects(t *testing.T) {
	p := testPlan()
	objs, err := p.LowerObjects()
	if err != nil {
		t.Fatal(err)
	}
	got := byName(objs)
	tok, rec := got["Secret tensile-system/tensile-vk-x-token"], got["ConfigMap tensile-system/tensile-join"]
	if tok == nil || rec == nil {
		t.Fatalf("objects: %v", keys(got))
	}
	if tok.Object["type"] != "kubernetes.io/service-account-token" || tok.GetAnnotations()["kubernetes.io/service-account.name"] != "tensile-vk-x" {
		t.Errorf("token Secret %v", tok.Object)
	}
	want := map[string]any{RecordKeyNode: "vk-x", RecordKeyUpperCluster: "up-uid", RecordKeyUpperServer: "https://upper"}
	if diff := cmp.Diff(want, rec.Object["data"]); diff != "" || rec.GetLabels()[LabelJoinRecord] != "true" || !p.Owned(rec.GetLabels()) {
		t.Errorf("record: labels %v, data (-want +got):\n%s", rec.GetLabels(), diff)
	}
}

func TestPlanValidate(t *testing.T) {
	for _, tc := range []struct {
		name, node, ns, want string
		lowerNamespace       string
	}{
		{"fine", "vk-x", "tensile-system", "", ""},
		{"namespace template", "vk-x", "tensile-system", "", "{namespace}-{node}"},
		{"namespace template without {namespace}", "vk-x", "tensile-system", "--lower-namespace", "{node}"},
		{"empty name", "", "tensile-system", `--name ""`, ""},
		{"upper case", "VK", "tensile-system", `--name "VK"`, ""},
		{"too long", strings.Repeat("a", 50), "tensile-system", "at most 49 characters", ""},
		{"bad namespace", "vk-x", "A_B", `--namespace "A_B"`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Plan{Node: tc.node, Namespace: tc.ns, LowerNamespace: tc.lowerNamespace}.Validate()
			if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestBadManifests: manifests join cannot follow give an error naming the file.
func TestBadManifests(t *testing.T) {
	const sa = "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: s, namespace: kube-system}\n---\n"
	for _, tc := range []struct {
		name, file, content, want string
	}{
		{"unknown kind", ManifestRBACLower, sa + "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n", "unexpected kind Pod"},
		{"no ServiceAccount", ManifestRBACLower, "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\n", "no ServiceAccount"},
		{"binding of another subject", ManifestRBACLower, sa + "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: b}\nroleRef: {kind: ClusterRole, name: r}\nsubjects: [{kind: User, name: u}]\n", "does not bind the ServiceAccount kube-system/s"},
		{"Deployment without --nodename", ManifestDeployment, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {template: {spec: {containers: [{name: c, args: [--leader-elect]}]}}}\n", "no --nodename=... or --client-kubeconfig=..."},
		{"a kind tensilectl does not know", ManifestRBACUpper, sa + "apiVersion: v1\nkind: Widget\nmetadata: {name: w}\n", "kind /v1, Kind=Widget is not one tensilectl handles"},
		{"not YAML", ManifestRBACLower, "{{ .Values }}", ManifestRBACLower},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for _, f := range []string{ManifestDeployment, ManifestRBACUpper, ManifestRBACLower} {
				b, err := manifests.VirtualNode.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				fsys[f] = &fstest.MapFile{Data: b}
			}
			fsys[tc.file] = &fstest.MapFile{Data: []byte(tc.content)}
			p := testPlan()
			p.Manifests = fsys
			var err error
			if tc.file == ManifestRBACLower {
				_, err = p.LowerObjects()
			} else {
				_, err = p.UpperObjects(nil)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to say %q", err, tc.want)
			}
		})
	}
}

func TestKubeconfig(t *testing.T) {
	c := &Cluster{Role: "lower", Source: "test", Config: &rest.Config{Host: "https://10.0.0.1:6443",
		TLSClientConfig: rest.TLSClientConfig{CAData: []byte("CA"), ServerName: "api.lower", CertData: []byte("admin cert")}}}
	b, err := c.Kubeconfig("lower", "tok")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(b)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://10.0.0.1:6443" || string(cfg.CAData) != "CA" || cfg.ServerName != "api.lower" || cfg.BearerToken != "tok" || len(cfg.CertData) > 0 {
		t.Errorf("kubeconfig gives %+v", cfg)
	}
}

func TestCheckVersion(t *testing.T) {
	c := &Cluster{Role: "upper", Source: "k", Config: &rest.Config{Host: "h"}}
	for v, ok := range map[string]bool{"v1.37.2": true, "v1.34.0": true, "v1.33.9": false, "v2.0.0": true} {
		err := c.CheckVersion(version.MustParseGeneric(v))
		if (err == nil) != ok {
			t.Errorf("CheckVersion(%s) = %v", v, err)
		}
	}
}

func TestPrintStatus(t *testing.T) {
	var b bytes.Buffer
	if err := PrintStatus(&b, []NodeStatus{{Name: "vk-x", JoinedBy: "tensilectl", Lower: "yes", Ready: "True", CPU: "24", Memory: "96Gi", Pods: "1/330", SummaryAge: "3s"}}); err != nil {
		t.Fatal(err)
	}
	want := "NAME  JOINED-BY   LOWER-REACHABLE  READY  CPU  MEMORY  PODS   SUMMARY-AGE\n" +
		"vk-x  tensilectl  yes              True   24   96Gi    1/330  3s\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
