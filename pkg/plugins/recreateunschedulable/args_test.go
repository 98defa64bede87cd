package recreateunschedulable

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/descheduler/pkg/api"
	"sigs.k8s.io/descheduler/pkg/descheduler"
	"sigs.k8s.io/descheduler/pkg/framework/pluginregistry"
	"sigs.k8s.io/yaml"
)

// loadPolicy decodes a DeschedulerPolicy through the descheduler's own loader and
// scheme, with the upstream plugins and this one registered the way cmd/descheduler
// does, so defaulting and validation run end to end.
func loadPolicy(t *testing.T, yaml string) (*api.DeschedulerPolicy, error) {
	t.Helper()
	descheduler.SetupPlugins()
	Register(pluginregistry.PluginRegistry, Options{})
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return descheduler.LoadPolicyConfig(path, fake.NewClientset(), pluginregistry.PluginRegistry)
}

const policyHead = `apiVersion: descheduler/v1alpha2
kind: DeschedulerPolicy
profiles:
- name: virtual
  plugins:
    deschedule:
      enabled: [RecreateUnschedulable]
  pluginConfig:
  - name: RecreateUnschedulable
`

func pluginArgs(t *testing.T, p *api.DeschedulerPolicy) *RecreateUnschedulableArgs {
	t.Helper()
	for _, pc := range p.Profiles[0].PluginConfigs {
		if pc.Name == PluginName {
			a, ok := pc.Args.(*RecreateUnschedulableArgs)
			if !ok {
				t.Fatalf("args decoded as %T", pc.Args)
			}
			return a
		}
	}
	t.Fatal("plugin config missing")
	return nil
}

func TestPolicyDecodingDefaults(t *testing.T) {
	p, err := loadPolicy(t, policyHead+"    args: {}\n")
	if err != nil {
		t.Fatal(err)
	}
	want := &RecreateUnschedulableArgs{
		VirtualNodeSelector:      &metav1.LabelSelector{MatchLabels: map[string]string{"type": "virtual-kubelet"}},
		UnschedulableGracePeriod: &metav1.Duration{Duration: DefaultUnschedulableGracePeriod},
		MaxPendingTime:           &metav1.Duration{Duration: DefaultMaxPendingTime},
		ExclusionTTL:             &metav1.Duration{Duration: DefaultExclusionTTL},
		MaxRecreations:           ptr.To(DefaultMaxRecreations),
	}
	if diff := cmp.Diff(want, pluginArgs(t, p)); diff != "" {
		t.Errorf("defaulted args (-want +got):\n%s", diff)
	}
}

func TestPolicyDecodingKeepsValues(t *testing.T) {
	p, err := loadPolicy(t, policyHead+`    args:
      namespaces: {exclude: [kube-system]}
      unschedulableGracePeriod: 30s
      maxPendingTime: 0s
      exclusionTTL: 1h
      maxRecreations: 5
`)
	if err != nil {
		t.Fatal(err)
	}
	a := pluginArgs(t, p)
	if a.UnschedulableGracePeriod.Duration != 30*time.Second || a.MaxPendingTime.Duration != 0 ||
		a.ExclusionTTL.Duration != time.Hour || *a.MaxRecreations != 5 || a.Namespaces.Exclude[0] != "kube-system" {
		t.Errorf("args %+v", a)
	}
}

func TestPolicyDecodingValidation(t *testing.T) {
	for name, tc := range map[string]struct{ args, wantErr string }{
		"negative grace":     {"unschedulableGracePeriod: -1s", "unschedulableGracePeriod"},
		"zero ttl":           {"exclusionTTL: 0s", "exclusionTTL"},
		"zero cap":           {"maxRecreations: 0", "maxRecreations"},
		"both namespaces":    {"namespaces: {include: [a], exclude: [b]}", "namespaces"},
		"empty node matcher": {"virtualNodeSelector: {}", "virtualNodeSelector"},
		"bad selector":       {"labelSelector: {matchExpressions: [{key: a, operator: Bogus}]}", "labelSelector"},
		"unknown field":      {"maxRecreation: 2", "unknown field"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := loadPolicy(t, policyHead+"    args:\n      "+tc.args+"\n")
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.wantErr)
			}
		})
	}
}

// TestShippedPolicies loads the policies under manifests/descheduler, including the one
// embedded in the ConfigMap, through the descheduler's loader.
func TestShippedPolicies(t *testing.T) {
	dir := "../../../manifests/descheduler/"
	cm, err := os.ReadFile(dir + "configmap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var configMap struct {
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(cm, &configMap); err != nil {
		t.Fatal(err)
	}
	plain, err := os.ReadFile(dir + "policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if configMap.Data["policy.yaml"] != string(plain) {
		t.Error("the ConfigMap's policy differs from policy.yaml")
	}
	demo, err := os.ReadFile(dir + "policy-demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for name, policy := range map[string]string{"policy.yaml": string(plain), "policy-demo.yaml": string(demo)} {
		p, err := loadPolicy(t, policy)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if p.NodeSelector != nil {
			t.Errorf("%s: a nodeSelector may leave fewer than two Ready nodes", name)
		}
		if a := pluginArgs(t, p); a.MaxRecreations == nil || a.VirtualNodeSelector == nil {
			t.Errorf("%s: args not defaulted: %+v", name, a)
		}
	}
}
