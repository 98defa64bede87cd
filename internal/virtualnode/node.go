package virtualnode

import (
	"context"
	"errors"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/node"
	"github.com/virtual-kubelet/virtual-kubelet/node/nodeutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
)

// vkNode is virtual-kubelet's node (its node and pod controllers) wired from the
// constructors of its node package, in the steps nodeutil.NewNode and Node.Run take.
// NewNode cannot be used: it builds and starts informers of every upper Secret,
// ConfigMap and Service for the pod controller, whatever the controller is given in
// the end, a second cache of what the reflectors' informers (the upper factory) hold.
// Here the pod controller reads those, and the node's pods come from a factory of ours
// without managedFields.
type vkNode struct {
	nc      *node.NodeController
	pc      *node.PodController
	pods    informers.SharedInformerFactory
	serve   func(ctx context.Context) (stop func(), err error)
	workers int
	ready   chan struct{}
}

// vkNodeConfig is what newVKNode wires together.
type vkNodeConfig struct {
	// Client is the upper cluster's client: the node, its lease, pods and their status.
	Client kubernetes.Interface
	// Node is the node registered above.
	Node *corev1.Node
	// Pods serves the pods bound to the node (newPodInformers); vkNode starts it.
	Pods informers.SharedInformerFactory
	// Upper serves the pod controller's Secrets, ConfigMaps and Services: the
	// reflectors' factory, started by its owner. The controller never reads them
	// (SkipDownwardAPIResolution), but virtual-kubelet requires them.
	Upper        informers.SharedInformerFactory
	Provider     node.PodLifecycleHandler
	NodeProvider node.NodeProvider
	Recorder     record.EventRecorder
	Workers      int
	// PodControllerOverrides change the pod controller's configuration before it is built.
	PodControllerOverrides []func(*node.PodControllerConfig) error
	// Serve starts the kubelet API and returns what stops it.
	Serve func(ctx context.Context) (stop func(), err error)
}

// podResync is the pods' informer resync period, nodeutil.NewNode's.
const podResync = time.Minute

// newPodInformers returns the factory of the pods bound to the node named name.
func newPodInformers(client kubernetes.Interface, name string) informers.SharedInformerFactory {
	return informers.NewSharedInformerFactoryWithOptions(client, podResync,
		nodeutil.PodInformerFilter(name), informers.WithTransform(withoutManagedFields))
}

// newVKNode builds the node and pod controllers.
func newVKNode(cfg vkNodeConfig) (*vkNode, error) {
	if cfg.Client == nil || cfg.Node == nil || cfg.Pods == nil || cfg.Upper == nil || cfg.Provider == nil ||
		cfg.NodeProvider == nil || cfg.Recorder == nil || cfg.Serve == nil {
		return nil, errors.New("virtual node: client, node, informers, providers, recorder and kubelet API are required")
	}
	nc, err := node.NewNodeController(cfg.NodeProvider, cfg.Node, cfg.Client.CoreV1().Nodes(),
		node.WithNodeEnableLeaseV1(nodeutil.NodeLeaseV1Client(cfg.Client), node.DefaultLeaseDuration))
	if err != nil {
		return nil, err
	}
	core := cfg.Upper.Core().V1()
	pcc := node.PodControllerConfig{
		PodClient:         cfg.Client.CoreV1(),
		EventRecorder:     cfg.Recorder,
		Provider:          cfg.Provider,
		PodInformer:       cfg.Pods.Core().V1().Pods(),
		SecretInformer:    core.Secrets(),
		ConfigMapInformer: core.ConfigMaps(),
		ServiceInformer:   core.Services(),
		// Upper Service env vars must not be baked into lower pods.
		SkipDownwardAPIResolution: true,
	}
	for _, o := range cfg.PodControllerOverrides {
		if err := o(&pcc); err != nil {
			return nil, err
		}
	}
	pc, err := node.NewPodController(pcc)
	if err != nil {
		return nil, err
	}
	return &vkNode{nc: nc, pc: pc, pods: cfg.Pods, serve: cfg.Serve, workers: cfg.Workers, ready: make(chan struct{})}, nil
}

// Ready is closed once the pod controller and then the node controller are ready.
func (n *vkNode) Ready() <-chan struct{} { return n.ready }

// Run serves the kubelet API, starts the pods' informers and the pod controller, then,
// once it is ready, the node controller; it returns when either controller ends (its
// error) or ctx does. The order is nodeutil's Node.Run's.
func (n *vkNode) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop, err := n.serve(ctx)
	if err != nil {
		return err
	}
	defer stop()
	n.pods.Start(ctx.Done())
	defer n.pods.Shutdown()
	go n.pc.Run(ctx, n.workers) //nolint:errcheck // its error is read from Err once Done
	defer func() { cancel(); <-n.pc.Done() }()
	select {
	case <-ctx.Done():
		return nil
	case <-n.pc.Ready():
	case <-n.pc.Done():
		return n.pc.Err()
	}
	go n.nc.Run(ctx) //nolint:errcheck // its error is read from Err once Done
	defer func() { cancel(); <-n.nc.Done() }()
	select {
	case <-ctx.Done():
		return nil
	case <-n.nc.Ready():
	case <-n.nc.Done():
		return n.nc.Err()
	}
	close(n.ready)
	select {
	case <-n.nc.Done():
		return n.nc.Err()
	case <-n.pc.Done():
		return n.pc.Err()
	}
}
