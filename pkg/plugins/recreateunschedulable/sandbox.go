package recreateunschedulable

import (
	"context"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"
)

// DefaultSandboxWait bounds how long a dry run waits for the sandbox's pod cache.
const DefaultSandboxWait = 10 * time.Second

// awaitSandbox waits, in dry-run mode, until the handle's pod cache holds every pod the
// live cluster has on node that the plugin would move at now.
//
// In dry-run mode the handle reads upstream's sandbox: a fake clientset and informers
// fed from the real informers. Upstream v0.36 starts and syncs the sandbox's informers
// before the real ones feed it, so the first cycle of a run-once descheduler can find
// them still empty or partly filled (kubernetes-sigs/descheduler#1917). The dry run
// would then report that nothing would move. The wait is bounded by Options.SandboxWait.
// After that the plugin reports on what the sandbox holds, and logs that it may be
// incomplete. Outside dry-run mode, or without Options.Live, it returns at once.
func (p *RecreateUnschedulable) awaitSandbox(ctx context.Context, node string, now time.Time) {
	if !p.opts.DryRun || p.opts.Live == nil {
		return
	}
	logger := klog.FromContext(ctx).WithValues("node", node)
	live, err := p.opts.Live.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String(),
	})
	if err != nil {
		logger.Error(err, "Dry run: listing the node's pods in the cluster; the report may be incomplete")
		return
	}
	want := sets.New[types.UID]()
	for i := range live.Items {
		pod := &live.Items[i]
		if _, _, ok := p.selection.why(pod, now); ok && p.podFilter(pod) {
			want.Insert(pod.UID)
		}
	}
	if want.Len() == 0 {
		return
	}
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, p.opts.SandboxWait, true, func(context.Context) (bool, error) {
		pods, err := p.handle.GetPodsAssignedToNodeFunc()(node, func(pod *v1.Pod) bool { return want.Has(pod.UID) })
		return err == nil && len(pods) == want.Len(), nil
	})
	if err != nil {
		logger.Info("Dry run: the descheduler's sandbox has not caught up with the cluster (kubernetes-sigs/descheduler#1917); the report may be incomplete",
			"waited", p.opts.SandboxWait, "pods", want.Len())
	}
}
