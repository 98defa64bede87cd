package capacity

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
	"github.com/tensile-kube/tensile/pkg/generated/clientset/versioned"
	tensilev1alpha1 "github.com/tensile-kube/tensile/pkg/generated/clientset/versioned/typed/tensile/v1alpha1"
)

// SummarySource is what the publisher reads: the Model satisfies it.
type SummarySource interface {
	// Summary returns the current summary with ContentHash set.
	Summary() *v1alpha1.ClusterSummaryStatus
	// Subscribe returns a channel that receives after the source changes.
	Subscribe() <-chan struct{}
}

var _ SummarySource = (*Model)(nil)

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	// Source is the model to publish. Required.
	Source SummarySource
	// Client writes to the upper cluster. Required.
	Client versioned.Interface
	// VirtualNode names the summary object. Required.
	VirtualNode string
	// LowerVersion is recorded in the summary when set.
	LowerVersion string
	// Owner, when set, is the owner reference put on the summary (the virtual Node),
	// so that it is garbage-collected with the node.
	Owner *metav1.OwnerReference
	// MinInterval is the shortest time between two writes; changes in between are
	// coalesced into one write. Default 1s.
	MinInterval time.Duration
	// Heartbeat is how often an unchanged summary is rewritten with a new UpdateTime,
	// so readers can tell a quiet cluster from a dead publisher. It must stay below the
	// scheduler plugin's maxSummaryAge. Default 10s; negative disables.
	Heartbeat time.Duration
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// Default publisher timings.
const (
	DefaultMinInterval = time.Second
	DefaultHeartbeat   = 10 * time.Second
)

// Publisher writes one lower cluster's summary to the upper cluster as the
// ClusterSummary named after the virtual node, whenever it changes, at most once per
// MinInterval, and never when nothing changed but the heartbeat is due.
type Publisher struct {
	cfg       PublisherConfig
	res       tensilev1alpha1.ClusterSummaryInterface
	rv        string
	lastHash  string
	lastWrite time.Time
}

// NewPublisher validates cfg and returns a publisher.
func NewPublisher(cfg PublisherConfig) (*Publisher, error) {
	var errs []error
	if cfg.Source == nil {
		errs = append(errs, errors.New("Source is required"))
	}
	if cfg.Client == nil {
		errs = append(errs, errors.New("Client is required"))
	}
	if cfg.VirtualNode == "" {
		errs = append(errs, errors.New("VirtualNode is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("invalid publisher config: %w", err)
	}
	if cfg.MinInterval <= 0 {
		cfg.MinInterval = DefaultMinInterval
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Publisher{cfg: cfg, res: cfg.Client.TensileV1alpha1().ClusterSummaries()}, nil
}

// Run publishes until ctx ends: once at start, then after each change (coalesced),
// and on each heartbeat. Failed writes are retried after MinInterval.
func (p *Publisher) Run(ctx context.Context) error {
	logger := klog.FromContext(ctx).WithValues("clusterSummary", p.cfg.VirtualNode)
	changed := p.cfg.Source.Subscribe()
	pending := true
	for {
		if pending {
			if err := p.waitInterval(ctx); err != nil {
				return nil
			}
			drain(changed)
			if _, err := p.PublishOnce(ctx); err != nil {
				logger.Error(err, "Publishing cluster summary failed; will retry")
			} else {
				pending = false
			}
		}
		beat, stopBeat := timer(p.cfg.Heartbeat, p.cfg.Heartbeat > 0)
		retry, stopRetry := timer(p.cfg.MinInterval, pending)
		select {
		case <-ctx.Done():
			stopBeat()
			stopRetry()
			return nil
		case <-changed:
		case <-beat:
		case <-retry:
		}
		stopBeat()
		stopRetry()
		pending = true
	}
}

// waitInterval sleeps until MinInterval has passed since the last write.
func (p *Publisher) waitInterval(ctx context.Context) error {
	wait := p.lastWrite.Add(p.cfg.MinInterval).Sub(p.cfg.Now())
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// timer returns a channel that fires after d, or never when on is false, and its stop.
func timer(d time.Duration, on bool) (<-chan time.Time, func()) {
	if !on {
		return nil, func() {}
	}
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}

func drain(ch <-chan struct{}) {
	select {
	case <-ch:
	default:
	}
}

// PublishOnce writes the current summary if its content changed since the last write
// or the heartbeat is due. It reports whether it wrote.
func (p *Publisher) PublishOnce(ctx context.Context) (bool, error) {
	st := p.cfg.Source.Summary()
	now := p.cfg.Now()
	beatDue := p.cfg.Heartbeat > 0 && now.Sub(p.lastWrite) >= p.cfg.Heartbeat
	if st.ContentHash == p.lastHash && !beatDue {
		return false, nil
	}
	st.VirtualNode = p.cfg.VirtualNode
	st.LowerVersion = p.cfg.LowerVersion
	st.UpdateTime = metav1.NewMicroTime(now)
	if err := p.write(ctx, st); err != nil {
		return false, err
	}
	p.lastHash, p.lastWrite = st.ContentHash, now
	klog.FromContext(ctx).V(4).Info("Published cluster summary", "clusterSummary", p.cfg.VirtualNode,
		"groups", len(st.Groups), "nodes", st.NodeCount, "hash", st.ContentHash)
	return true, nil
}

// write creates the object when needed and updates its status.
func (p *Publisher) write(ctx context.Context, st *v1alpha1.ClusterSummaryStatus) error {
	cs := &v1alpha1.ClusterSummary{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.SchemeGroupVersion.String(), Kind: v1alpha1.ClusterSummaryKind},
		ObjectMeta: metav1.ObjectMeta{Name: p.cfg.VirtualNode},
		Status:     *st,
	}
	if p.cfg.Owner != nil {
		cs.OwnerReferences = []metav1.OwnerReference{*p.cfg.Owner}
	}
	if p.rv == "" {
		if err := p.ensureExists(ctx, cs); err != nil {
			return err
		}
	}
	cs.ResourceVersion = p.rv
	updated, err := p.res.UpdateStatus(ctx, cs, metav1.UpdateOptions{})
	if err != nil {
		p.rv = "" // re-read (or re-create) on the next attempt
		return fmt.Errorf("updating status of cluster summary %s: %w", p.cfg.VirtualNode, err)
	}
	p.rv = updated.GetResourceVersion()
	return nil
}

// ensureExists learns the object's resourceVersion, creating the object if missing.
func (p *Publisher) ensureExists(ctx context.Context, obj *v1alpha1.ClusterSummary) error {
	cur, err := p.res.Get(ctx, p.cfg.VirtualNode, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		cur, err = p.res.Create(ctx, obj, metav1.CreateOptions{})
	}
	if err != nil {
		return fmt.Errorf("getting or creating cluster summary %s: %w", p.cfg.VirtualNode, err)
	}
	p.rv = cur.GetResourceVersion()
	return nil
}
