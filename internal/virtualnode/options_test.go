package virtualnode

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
)

// parseOptions returns the options the command would get from args. "$KUBECONFIG" in
// an argument stands for an existing kubeconfig file.
func parseOptions(t *testing.T, args ...string) *Options {
	t.Helper()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := NewOptions()
	fs := pflag.NewFlagSet("virtual-node", pflag.ContinueOnError)
	o.AddFlags(fs)
	expanded := make([]string, len(args))
	for i, a := range args {
		expanded[i] = strings.ReplaceAll(a, "$KUBECONFIG", kubeconfig)
	}
	if err := fs.Parse(expanded); err != nil {
		t.Fatalf("parsing %q: %v", args, err)
	}
	return o
}

// required are the flags a valid command line needs.
var required = []string{"--nodename=vk-node", "--client-kubeconfig=$KUBECONFIG"}

func with(extra ...string) []string {
	return append(append([]string(nil), required...), extra...)
}

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string // substrings of the error; none: valid
	}{
		{name: "required flags only", args: required},
		{
			name: "everything set",
			args: with("--kubeconfig=$KUBECONFIG", "--node-labels=zone=a,example.com/tier=gold",
				"--register-with-taints=gpu=true:NoSchedule,dedicated:NoExecute", "--listen-address=0.0.0.0:10260",
				"--node-ip=fd00::1", "--tls-cert-file=/c.pem", "--tls-private-key-file=/k.pem", "--upper-cluster-id=prod-eu"),
		},
		{name: "missing nodename", args: []string{"--client-kubeconfig=$KUBECONFIG"}, want: []string{"--nodename is required"}},
		{name: "nodename not a DNS subdomain", args: with("--nodename=VK_Node"), want: []string{`--nodename "VK_Node"`}},
		{name: "missing client kubeconfig", args: []string{"--nodename=vk-node"}, want: []string{"--client-kubeconfig (the lower cluster) is required"}},
		{name: "nonexistent client kubeconfig", args: with("--client-kubeconfig=/nonexistent/lower"), want: []string{"--client-kubeconfig: stat /nonexistent/lower"}},
		{name: "nonexistent upper kubeconfig", args: with("--kubeconfig=/nonexistent/upper"), want: []string{"--kubeconfig: stat /nonexistent/upper"}},
		{name: "taint without effect", args: with("--register-with-taints=gpu=true"), want: []string{`--register-with-taints "gpu=true": want key=value:Effect`}},
		{name: "taint with unknown effect", args: with("--register-with-taints=gpu=true:Sometimes"), want: []string{"effect must be NoSchedule, PreferNoSchedule or NoExecute"}},
		{name: "taint with bad key", args: with("--register-with-taints=bad key=v:NoSchedule"), want: []string{`--register-with-taints "bad key=v:NoSchedule": key:`}},
		{name: "label with bad key", args: with("--node-labels=bad key=v"), want: []string{`--node-labels key "bad key"`}},
		{name: "label with bad value", args: with("--node-labels=zone=not a value"), want: []string{`--node-labels value "not a value"`}},
		{name: "listen address without port", args: with("--listen-address=10250"), want: []string{`--listen-address "10250"`}},
		{name: "metrics address without port", args: with("--metrics-bind-address=localhost"), want: []string{`--metrics-bind-address "localhost"`}},
		{name: "node IP not an IP", args: with("--node-ip=node-1"), want: []string{`--node-ip "node-1" is not an IP address`}},
		{name: "cert without key", args: with("--tls-cert-file=/c.pem"), want: []string{"--tls-cert-file and --tls-private-key-file go together"}},
		{name: "key without cert", args: with("--tls-private-key-file=/k.pem"), want: []string{"--tls-cert-file and --tls-private-key-file go together"}},
		{name: "bad cluster id", args: with("--upper-cluster-id=prod/eu"), want: []string{`--upper-cluster-id "prod/eu"`}},
		{name: "namespace mapping", args: with("--lower-namespace={namespace}-{cluster}", "--upper-cluster-id=prod-eu")},
		{name: "namespace mapping without {namespace}", args: with("--lower-namespace={cluster}"), want: []string{"--lower-namespace: lower-namespace template \"{cluster}\": want {namespace} exactly once"}},
		{name: "namespace mapping with a node name that has dots", args: with("--nodename=vk.a", "--lower-namespace={node}-{namespace}"), want: []string{`--lower-namespace: lower-namespace template "{node}-{namespace}" gives namespaces like "vk.a-a"`}},
		{name: "non-positive QPS", args: with("--client-api-qps=0"), want: []string{"QPS and burst flags must be positive"}},
		{name: "JSON wire format", args: with("--kube-api-content-type=application/json")},
		{name: "unknown wire format", args: with("--kube-api-content-type=application/yaml"), want: []string{`--kube-api-content-type "application/yaml": want application/vnd.kubernetes.protobuf or application/json`}},
		{name: "non-positive workers", args: with("--workers=0"), want: []string{"--workers must be positive"}},
		{name: "shortened retry delays", args: with("--retry-base-delay=10ms", "--retry-max-delay=1s")},
		{name: "zero retry base", args: with("--retry-base-delay=0s"), want: []string{"--retry-base-delay (0s) must be positive and at most --retry-max-delay (20s)"}},
		{name: "retry cap below base", args: with("--retry-base-delay=2s", "--retry-max-delay=1s"), want: []string{"--retry-base-delay (2s) must be positive and at most --retry-max-delay (1s)"}},
		{
			name: "every problem reported at once",
			args: []string{"--tls-cert-file=/c.pem", "--node-ip=x"},
			want: []string{"--nodename is required", "--client-kubeconfig (the lower cluster) is required", "go together", `--node-ip "x"`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := parseOptions(t, tc.args...).Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate succeeded, want errors containing %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestOptionsTaints(t *testing.T) {
	provider := func(v string) corev1.Taint {
		return corev1.Taint{Key: "virtual-kubelet.io/provider", Value: v, Effect: corev1.TaintEffectNoSchedule}
	}
	for _, tc := range []struct {
		name string
		args []string
		want []corev1.Taint
	}{
		{name: "default: the provider taint", want: []corev1.Taint{provider("tensile")}},
		{name: "provider name is the taint value", args: []string{"--provider=acme"}, want: []corev1.Taint{provider("acme")}},
		{name: "provider taint disabled", args: []string{"--disable-provider-taint"}},
		{
			name: "extra taints after the provider taint",
			args: []string{"--register-with-taints=gpu=true:NoSchedule,dedicated:NoExecute,spot=yes:PreferNoSchedule"},
			want: []corev1.Taint{
				provider("tensile"),
				{Key: "gpu", Value: "true", Effect: corev1.TaintEffectNoSchedule},
				{Key: "dedicated", Effect: corev1.TaintEffectNoExecute},
				{Key: "spot", Value: "yes", Effect: corev1.TaintEffectPreferNoSchedule},
			},
		},
		{
			name: "extra taints only",
			args: []string{"--disable-provider-taint", "--register-with-taints=gpu=true:NoSchedule"},
			want: []corev1.Taint{{Key: "gpu", Value: "true", Effect: corev1.TaintEffectNoSchedule}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseOptions(t, tc.args...).Taints()
			if err != nil {
				t.Fatalf("Taints: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("taints (-want +got):\n%s", diff)
			}
		})
	}
}
