package chartrender

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

const chartDir = "../../charts/tensile"

// objects renders the chart with values and returns its objects by "Kind/name".
func objects(t *testing.T, opts Options) (map[string]*unstructured.Unstructured, *Rendering) {
	t.Helper()
	r, err := Render(chartDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*unstructured.Unstructured{}
	for _, doc := range SplitDocuments(r.Manifest(true)) {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatalf("%v in\n%s", err, doc)
		}
		key := u.GetKind() + "/" + u.GetName()
		if _, dup := out[key]; dup {
			t.Fatalf("%s rendered twice", key)
		}
		out[key] = u
	}
	return out, r
}

// typed decodes o strictly into a typed object, so a misplaced field fails.
func typed[T any](t *testing.T, o *unstructured.Unstructured) *T {
	t.Helper()
	if o == nil {
		t.Fatal("object not rendered")
	}
	b, err := yaml.Marshal(o.Object)
	if err != nil {
		t.Fatal(err)
	}
	var v T
	if err := yaml.UnmarshalStrict(b, &v); err != nil {
		t.Fatalf("%s/%s: %v", o.GetKind(), o.GetName(), err)
	}
	return &v
}

func keys(m map[string]*unstructured.Unstructured) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestManifestsUpToDate is the drift test: manifests/ must be what `make manifests`
// renders from the chart.
func TestManifestsUpToDate(t *testing.T) {
	files, err := Manifests(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 19 {
		t.Fatalf("only %d files rendered", len(files))
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join("../../manifests", name))
		if err != nil {
			t.Errorf("%v (run make manifests)", err)
			continue
		}
		if diff := cmp.Diff(want, string(got)); diff != "" {
			t.Errorf("manifests/%s differs from the chart; run make manifests (-chart +file):\n%s", name, diff)
		}
	}
}

// TestDefaults renders the chart as `helm install` with no values would.
func TestDefaults(t *testing.T) {
	objs, r := objects(t, Options{})
	for _, want := range []string{
		"CustomResourceDefinition/clustersummaries.tensile.dev", "CustomResourceDefinition/placementexclusions.tensile.dev",
		"Deployment/multi-scheduler", "ConfigMap/multi-scheduler-config", "CronJob/tensile-descheduler",
		"ConfigMap/tensile-descheduler-policy", "Deployment/tensile-webhook", "Service/tensile-webhook",
		"Secret/tensile-webhook-tls", "MutatingWebhookConfiguration/tensile-webhook", "ClusterRole/tensile:virtual-node",
	} {
		if objs[want] == nil {
			t.Errorf("%s not rendered; got %v", want, keys(objs))
		}
	}
	for _, absent := range []string{"Deployment/tensile-descheduler", "ClusterRole/tensile:virtual-node:lower", "Role/tensile-descheduler-leader-election"} {
		if objs[absent] != nil {
			t.Errorf("%s rendered by default", absent)
		}
	}
	for k, o := range objs {
		if o.GetKind() == "Deployment" && strings.HasPrefix(o.GetName(), "tensile-vk") {
			t.Errorf("%s rendered with no virtualNodes", k)
		}
		if o.GetKind() != "CustomResourceDefinition" && o.GetKind() != "MutatingWebhookConfiguration" &&
			(o.GetLabels()["helm.sh/chart"] != "tensile-0.1.0" || o.GetLabels()["app.kubernetes.io/instance"] != "tensile") {
			t.Errorf("%s: labels %v", k, o.GetLabels())
		}
	}
	img := typed[appsv1.Deployment](t, objs["Deployment/multi-scheduler"]).Spec.Template.Spec.Containers[0].Image
	if img != "ghcr.io/tensile-kube/multi-scheduler:v0.1.0" {
		t.Errorf("image %q, want the appVersion tag", img)
	}
	if !strings.Contains(r.Notes, "no virtualNodes listed yet") {
		t.Errorf("NOTES:\n%s", r.Notes)
	}
}

// TestGeneratedWebhookCertificate: the chart's CA signs the serving certificate for
// the Service's name, the registration trusts that CA, and the webhook does not
// patch its registration (and has no RBAC to).
func TestGeneratedWebhookCertificate(t *testing.T) {
	objs, _ := objects(t, Options{Namespace: "tnsl", Values: map[string]any{"webhook": map[string]any{"replicas": 2}}})
	secret := typed[corev1.Secret](t, objs["Secret/tensile-webhook-tls"])
	mwc := typed[admissionregistrationv1.MutatingWebhookConfiguration](t, objs["MutatingWebhookConfiguration/tensile-webhook"])
	roots := x509.NewCertPool()
	for _, wh := range mwc.Webhooks {
		if string(wh.ClientConfig.CABundle) != string(secret.Data["ca.crt"]) {
			t.Errorf("%s: caBundle is not the Secret's CA", wh.Name)
		}
		if wh.ClientConfig.Service.Namespace != "tnsl" {
			t.Errorf("%s: service namespace %q", wh.Name, wh.ClientConfig.Service.Namespace)
		}
	}
	if !roots.AppendCertsFromPEM(secret.Data["ca.crt"]) {
		t.Fatal("no CA in ca.crt")
	}
	block, _ := pem.Decode(secret.Data["tls.crt"])
	if block == nil {
		t.Fatal("no certificate in tls.crt")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: "tensile-webhook.tnsl.svc"}); err != nil {
		t.Errorf("serving certificate: %v", err)
	}
	dep := typed[appsv1.Deployment](t, objs["Deployment/tensile-webhook"])
	args := dep.Spec.Template.Spec.Containers[0].Args
	if !slices.Contains(args, "--webhook-config-name=") || !slices.Contains(args, "--tls-cert-file=/etc/tensile/webhook-tls/tls.crt") || *dep.Spec.Replicas != 2 {
		t.Errorf("webhook args %v, replicas %d", args, *dep.Spec.Replicas)
	}
	for _, rule := range typed[rbacv1.ClusterRole](t, objs["ClusterRole/tensile-webhook"]).Rules {
		if slices.Contains(rule.Resources, "mutatingwebhookconfigurations") {
			t.Errorf("webhook may %v its registration although the chart sets the caBundle", rule.Verbs)
		}
	}
}

// TestSeveralVirtualNodes: one Deployment per entry, each with its own Secret, key and
// namespace mapping.
func TestSeveralVirtualNodes(t *testing.T) {
	objs, r := objects(t, Options{Values: map[string]any{"virtualNodes": []any{
		map[string]any{"name": "vk-a"},
		map[string]any{"name": "vk-b", "kubeconfigSecret": map[string]any{"name": "lower-b", "key": "config"}},
		map[string]any{"name": "vk-c", "lowerNamespace": "{namespace}-{cluster}", "upperClusterID": "prod-eu"},
	}}})
	for _, tc := range []struct {
		node, secret, key string
		extra             []string
	}{
		{"vk-a", "tensile-vk-a-lower", "kubeconfig", nil},
		{"vk-b", "lower-b", "config", nil},
		{"vk-c", "tensile-vk-c-lower", "kubeconfig", []string{"--lower-namespace={namespace}-{cluster}", "--upper-cluster-id=prod-eu"}},
	} {
		d := typed[appsv1.Deployment](t, objs["Deployment/tensile-"+tc.node])
		c := d.Spec.Template.Spec.Containers[0]
		if !slices.Contains(c.Args, "--nodename="+tc.node) || d.Spec.Selector.MatchLabels["tensile.dev/virtual-node"] != tc.node {
			t.Errorf("%s: args %v, selector %v", tc.node, c.Args, d.Spec.Selector.MatchLabels)
		}
		for _, a := range tc.extra {
			if !slices.Contains(c.Args, a) {
				t.Errorf("%s: no %s in %v", tc.node, a, c.Args)
			}
		}
		if tc.extra == nil && slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--lower-namespace") }) {
			t.Errorf("%s: namespace mapping nobody asked for: %v", tc.node, c.Args)
		}
		v := d.Spec.Template.Spec.Volumes[0].Secret
		if v.SecretName != tc.secret || len(v.Items) != 1 || v.Items[0].Key != tc.key || v.Items[0].Path != "kubeconfig" {
			t.Errorf("%s: secret volume %+v", tc.node, v)
		}
		if !strings.Contains(r.Notes, tc.secret) {
			t.Errorf("NOTES do not name %s:\n%s", tc.secret, r.Notes)
		}
	}
}

// TestDeschedulerModes: a CronJob or a Deployment, and the lease Role only for the
// Deployment, which elects a leader.
func TestDeschedulerModes(t *testing.T) {
	cron, _ := objects(t, Options{Set: []string{"descheduler.mode=cronjob", "descheduler.schedule=*/5 * * * *"}})
	cj := typed[batchv1.CronJob](t, cron["CronJob/tensile-descheduler"])
	if cj.Spec.Schedule != "*/5 * * * *" || !slices.Contains(cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args, "--descheduling-interval=0") {
		t.Errorf("CronJob schedule %q args %v", cj.Spec.Schedule, cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args)
	}
	if cron["Deployment/tensile-descheduler"] != nil || cron["Role/tensile-descheduler-leader-election"] != nil {
		t.Error("cronjob mode renders the Deployment or its lease Role")
	}
	dep, _ := objects(t, Options{Namespace: "tnsl", Set: []string{"descheduler.mode=deployment", "descheduler.interval=5m"}})
	d := typed[appsv1.Deployment](t, dep["Deployment/tensile-descheduler"])
	args := d.Spec.Template.Spec.Containers[0].Args
	for _, a := range []string{"--descheduling-interval=5m", "--leader-elect=true", "--leader-elect-resource-namespace=tnsl"} {
		if !slices.Contains(args, a) {
			t.Errorf("no %s in %v", a, args)
		}
	}
	if dep["CronJob/tensile-descheduler"] != nil || dep["Role/tensile-descheduler-leader-election"] == nil {
		t.Error("deployment mode renders the CronJob or lacks its lease Role")
	}
}

// TestLowerCluster: cluster=lower renders the lower RBAC and nothing else.
func TestLowerCluster(t *testing.T) {
	objs, r := objects(t, Options{Set: []string{"cluster=lower", "virtualNodes[0].name=vk-a"}})
	want := []string{
		"ClusterRole/tensile:virtual-node:lower", "ClusterRoleBinding/tensile:virtual-node:lower",
		"CustomResourceDefinition/clustersummaries.tensile.dev", "CustomResourceDefinition/placementexclusions.tensile.dev",
		"ServiceAccount/tensile-virtual-node",
	}
	if diff := cmp.Diff(want, keys(objs)); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	if !strings.Contains(r.Notes, "LOWER cluster") {
		t.Errorf("NOTES:\n%s", r.Notes)
	}
}

// TestImagesAndNamespace: one registry and tag name every image; namespaced objects
// go to the release namespace but for the Roles whose subject lives elsewhere.
func TestImagesAndNamespace(t *testing.T) {
	objs, _ := objects(t, Options{Namespace: "tnsl", Set: []string{
		"image.registry=registry.example:5000/team", "image.tag=v9.9.9", "virtualNodes[0].name=vk-a", "descheduler.mode=deployment",
	}})
	imageRE := regexp.MustCompile(`^registry\.example:5000/team/(virtual-node|multi-scheduler|descheduler|webhook):v9\.9\.9$`)
	images := 0
	for k, o := range objs {
		if o.GetKind() == "Deployment" {
			for _, c := range typed[appsv1.Deployment](t, o).Spec.Template.Spec.Containers {
				images++
				if !imageRE.MatchString(c.Image) {
					t.Errorf("%s: image %q", k, c.Image)
				}
			}
		}
		ns := o.GetNamespace()
		switch {
		case ns == "" || ns == "tnsl":
		case ns == "kube-node-lease" && strings.HasPrefix(k, "Role"):
		case ns == "kube-system" && o.GetKind() == "RoleBinding" && strings.HasSuffix(o.GetName(), "authentication-reader"):
		default:
			t.Errorf("%s in namespace %q", k, ns)
		}
		if o.GetKind() == "RoleBinding" || o.GetKind() == "ClusterRoleBinding" {
			for _, s := range typed[rbacv1.ClusterRoleBinding](t, o).Subjects {
				if s.Namespace != "tnsl" {
					t.Errorf("%s: subject %s/%s", k, s.Namespace, s.Name)
				}
			}
		}
	}
	if images != 4 {
		t.Errorf("%d container images checked, want 4", images)
	}
}

// TestCertManager: a Certificate for the Service and the CA injector's annotation.
func TestCertManager(t *testing.T) {
	objs, _ := objects(t, Options{Set: []string{"webhook.certificate.mode=cert-manager"}})
	if objs["Issuer/tensile-webhook-selfsigned"] == nil || objs["Certificate/tensile-webhook"] == nil || objs["Secret/tensile-webhook-tls"] != nil {
		t.Fatalf("objects %v", keys(objs))
	}
	if got := objs["MutatingWebhookConfiguration/tensile-webhook"].GetAnnotations()["cert-manager.io/inject-ca-from"]; got != "tensile-system/tensile-webhook" {
		t.Errorf("inject-ca-from %q", got)
	}
	objs, _ = objects(t, Options{Set: []string{"webhook.certificate.mode=cert-manager", "webhook.certificate.issuerRef.name=corp", "webhook.certificate.issuerRef.kind=ClusterIssuer"}})
	if objs["Issuer/tensile-webhook-selfsigned"] != nil {
		t.Error("self-signed Issuer rendered although issuerRef is given")
	}
	ca := base64.StdEncoding.EncodeToString([]byte("not checked here"))
	objs, _ = objects(t, Options{Set: []string{"webhook.certificate.mode=secret", "webhook.certificate.secretName=mine", "webhook.certificate.caBundle=" + ca}})
	if v := typed[appsv1.Deployment](t, objs["Deployment/tensile-webhook"]).Spec.Template.Spec.Volumes; len(v) != 1 || v[0].Secret.SecretName != "mine" {
		t.Errorf("volumes %+v", v)
	}
}

// TestBadValues: values the chart cannot honour fail with an error that names them.
func TestBadValues(t *testing.T) {
	for name, tc := range map[string]struct {
		set    []string
		values map[string]any
		want   string
	}{
		"unknown cluster":                       {[]string{"cluster=middle"}, nil, "/cluster"},
		"unknown descheduler mode":              {[]string{"descheduler.mode=daemonset"}, nil, "/descheduler/mode"},
		"misspelt key":                          {[]string{"virtualNode.replica=3"}, nil, "'replica' not allowed"},
		"node name not DNS":                     {[]string{"virtualNodes[0].name=VK_A"}, nil, "/virtualNodes/0/name"},
		"node without a name":                   {values: map[string]any{"virtualNodes": []any{map[string]any{"lowerNamespace": "{namespace}-x"}}}, want: "/virtualNodes/0"},
		"mapping without {namespace}":           {[]string{"virtualNodes[0].name=vk-a", "virtualNodes[0].lowerNamespace=flat"}, nil, "/virtualNodes/0/lowerNamespace"},
		"bad duration":                          {[]string{"descheduler.policy.exclusionTTL=30 minutes"}, nil, "/descheduler/policy/exclusionTTL"},
		"bad pull policy":                       {[]string{"image.pullPolicy=Sometimes"}, nil, "/image/pullPolicy"},
		"secret mode without secret":            {[]string{"webhook.certificate.mode=secret"}, nil, "/webhook/certificate/secretName"},
		"self-signed webhook with two replicas": {[]string{"webhook.certificate.mode=self", "webhook.replicas=2"}, nil, "webhook.replicas must be 1"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Render(chartDir, Options{Set: tc.set, Values: tc.values})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one naming %q", err, tc.want)
			}
		})
	}
}
