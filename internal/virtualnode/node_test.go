package virtualnode

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/node"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
)

// noPods is a pod provider that runs nothing.
type noPods struct{}

func (noPods) CreatePod(context.Context, *corev1.Pod) error { return nil }
func (noPods) UpdatePod(context.Context, *corev1.Pod) error { return nil }
func (noPods) DeletePod(context.Context, *corev1.Pod) error { return nil }
func (noPods) GetPod(context.Context, string, string) (*corev1.Pod, error) {
	return nil, errors.New("no pods")
}
func (noPods) GetPodStatus(context.Context, string, string) (*corev1.PodStatus, error) {
	return nil, errors.New("no pods")
}
func (noPods) GetPods(context.Context) ([]*corev1.Pod, error) { return nil, nil }

var _ node.PodLifecycleHandler = noPods{}

// TestVKNodeSharesUpperInformers: the node registers itself with a lease and becomes
// ready after serving its API, and the pod controller reads the upper factory's
// Secrets, ConfigMaps and Services: the node makes no other informer of them (one
// watch each, from the upper factory), and watches only its own pods.
func TestVKNodeSharesUpperInformers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := fake.NewClientset()
	upper := informers.NewSharedInformerFactory(client, 0)
	// The reflectors' informers, as newReflectors registers them.
	upper.Core().V1().Secrets().Informer()
	upper.Core().V1().ConfigMaps().Informer()
	upper.Core().V1().Services().Informer()
	var served, stopped atomic.Bool
	n, err := newVKNode(vkNodeConfig{
		Client: client, Node: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "vn"}},
		Pods: newPodInformers(client, "vn"), Upper: upper,
		Provider: noPods{}, NodeProvider: node.NewNaiveNodeProvider(), Recorder: record.NewFakeRecorder(100), Workers: 1,
		PodControllerOverrides: []func(*node.PodControllerConfig) error{perItemBackoff(time.Second, time.Minute)},
		Serve: func(context.Context) (func(), error) {
			served.Store(true)
			return func() { stopped.Store(true) }, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	upper.Start(ctx.Done())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	select {
	case <-n.Ready():
	case err := <-done:
		t.Fatalf("Run ended before ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("node not ready after 30s")
	}
	if !served.Load() {
		t.Error("ready without serving the kubelet API")
	}
	if _, err := client.CoreV1().Nodes().Get(ctx, "vn", metav1.GetOptions{}); err != nil {
		t.Errorf("node not registered: %v", err)
	}
	// The lease controller starts with the node controller and writes its first lease
	// on its own schedule, not before Ready.
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, "vn", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		t.Errorf("node lease not written within 30s: %v", err)
	}
	watches := map[string]int{}
	for _, a := range client.Actions() {
		if w, ok := a.(clienttesting.WatchAction); ok && a.GetNamespace() == metav1.NamespaceAll {
			r := a.GetResource().Resource
			watches[r]++
			if r == "pods" && w.GetWatchRestrictions().Fields.String() != "spec.nodeName=vn" {
				t.Errorf("pods watched with fields %q, want the node's own", w.GetWatchRestrictions().Fields)
			}
		}
	}
	for _, r := range []string{"secrets", "configmaps", "services", "pods"} {
		if watches[r] != 1 {
			t.Errorf("%s watched %d times across all namespaces, want once (watches: %v)", r, watches[r], watches)
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not end with its context")
	}
	if !stopped.Load() {
		t.Error("kubelet API not stopped when Run ended")
	}
}
