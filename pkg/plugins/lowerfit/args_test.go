package lowerfit

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"
	schedscheme "k8s.io/kubernetes/pkg/scheduler/apis/config/scheme"
	schedvalidation "k8s.io/kubernetes/pkg/scheduler/apis/config/validation"
	"sigs.k8s.io/yaml"

	"github.com/tensile-kube/tensile/pkg/plugins/lowerfit/apis/config"
)

// TestArgsDecode decodes whole KubeSchedulerConfigurations through kube-scheduler's
// own scheme, so registration, defaulting and conversion run as in the binary, then
// hands the args to the plugin factory, which validates them.
func TestArgsDecode(t *testing.T) {
	const header = `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
leaderElection:
  leaderElect: false
profiles:
- schedulerName: multi-scheduler
  plugins:
    multiPoint:
      enabled:
      - name: LowerClusterFit
`
	defaultSelector := &metav1.LabelSelector{MatchLabels: map[string]string{"type": "virtual-kubelet"}}
	tests := []struct {
		name        string
		pluginCfg   string
		want        *config.LowerClusterFitArgs
		wantInvalid string
	}{
		{
			name: "no pluginConfig: every default",
			want: &config.LowerClusterFitArgs{VirtualNodeSelector: defaultSelector,
				MaxSummaryAge: metav1.Duration{Duration: 30 * time.Second}, ReservationTTL: metav1.Duration{Duration: time.Minute}},
		},
		{
			name: "partial args are defaulted",
			pluginCfg: `  pluginConfig:
  - name: LowerClusterFit
    args:
      maxSummaryAge: 45s
`,
			want: &config.LowerClusterFitArgs{VirtualNodeSelector: defaultSelector,
				MaxSummaryAge: metav1.Duration{Duration: 45 * time.Second}, ReservationTTL: metav1.Duration{Duration: time.Minute}},
		},
		{
			name: "full args",
			pluginCfg: `  pluginConfig:
  - name: LowerClusterFit
    args:
      virtualNodeSelector:
        matchLabels:
          tensile.dev/virtual: "true"
      maxSummaryAge: 1m
      reservationTTL: 2m
`,
			want: &config.LowerClusterFitArgs{VirtualNodeSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tensile.dev/virtual": "true"}},
				MaxSummaryAge: metav1.Duration{Duration: time.Minute}, ReservationTTL: metav1.Duration{Duration: 2 * time.Minute}},
		},
		{
			name: "negative age is rejected by validation",
			pluginCfg: `  pluginConfig:
  - name: LowerClusterFit
    args:
      maxSummaryAge: -1s
`,
			wantInvalid: "args.maxSummaryAge",
		},
		{
			name: "empty selector is rejected by validation",
			pluginCfg: `  pluginConfig:
  - name: LowerClusterFit
    args:
      virtualNodeSelector: {}
`,
			wantInvalid: "args.virtualNodeSelector",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obj, _, err := schedscheme.Codecs.UniversalDecoder().Decode([]byte(header+tc.pluginCfg), nil, nil)
			if err != nil {
				t.Fatalf("decoding: %v", err)
			}
			cfg, ok := obj.(*schedconfig.KubeSchedulerConfiguration)
			if !ok {
				t.Fatalf("decoded %T", obj)
			}
			var args *config.LowerClusterFitArgs
			for _, pc := range cfg.Profiles[0].PluginConfig {
				if pc.Name == Name {
					if args, ok = pc.Args.(*config.LowerClusterFitArgs); !ok {
						t.Fatalf("args decoded as %T, want the internal type", pc.Args)
					}
				}
			}
			if args == nil {
				t.Fatal("no LowerClusterFit args after decoding: type not registered for defaulting")
			}
			pl, err := newPlugin(args, nil, time.Now)
			if tc.wantInvalid != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantInvalid) {
					t.Fatalf("err = %v, want one about %s", err, tc.wantInvalid)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, &pl.args, cmp.Comparer(func(a, b metav1.TypeMeta) bool { return true })); diff != "" {
				t.Errorf("args (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeArgsRejectsOtherTypes(t *testing.T) {
	if _, err := newPlugin(&schedconfig.NodeResourcesFitArgs{}, nil, time.Now); err == nil {
		t.Fatal("foreign args type accepted")
	}
}

// TestShippedConfigs decodes the shipped scheduler configurations (the plain file for
// local runs and the one in the ConfigMap) and checks they agree and validate.
func TestShippedConfigs(t *testing.T) {
	plain, err := os.ReadFile("../../../manifests/multi-scheduler/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cmRaw, err := os.ReadFile("../../../manifests/multi-scheduler/configmap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(cmRaw, &cm); err != nil {
		t.Fatal(err)
	}
	var decoded []*schedconfig.KubeSchedulerConfiguration
	for _, raw := range [][]byte{plain, []byte(cm.Data["config.yaml"])} {
		obj, _, err := schedscheme.Codecs.UniversalDecoder().Decode(raw, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg := obj.(*schedconfig.KubeSchedulerConfiguration)
		if errs := schedvalidation.ValidateKubeSchedulerConfiguration(cfg); errs != nil {
			t.Fatalf("invalid configuration: %v", errs)
		}
		if cfg.Profiles[0].SchedulerName != "multi-scheduler" || cfg.LeaderElection.ResourceName != "multi-scheduler" {
			t.Errorf("profile %q, lease %q", cfg.Profiles[0].SchedulerName, cfg.LeaderElection.ResourceName)
		}
		decoded = append(decoded, cfg)
	}
	if diff := cmp.Diff(decoded[0], decoded[1]); diff != "" {
		t.Errorf("config.yaml and the ConfigMap differ (-file +configmap):\n%s", diff)
	}
}
