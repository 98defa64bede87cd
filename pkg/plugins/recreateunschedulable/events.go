package recreateunschedulable

import (
	"context"
	"fmt"
	"os"
	"time"

	v1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/klog/v2"

	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
)

// EventSink records Events. ClientEvents is the real one.
type EventSink interface {
	// Event records one Event about regarding, with related (may be nil) as the
	// other object involved.
	Event(regarding, related *v1.ObjectReference, eventType, reason, note string)
}

// ClientEvents writes each Event synchronously through a clientset (events.k8s.io/v1).
// The event library's asynchronous broadcaster would lose the last Events of a
// run-once descheduler (a CronJob), which exits right after its cycle, and plugins get
// no hook to flush it.
type ClientEvents struct {
	client   kubernetes.Interface
	instance string
	logger   klog.Logger
}

var _ EventSink = (*ClientEvents)(nil)

// NewClientEvents returns a sink writing through client, reporting as this host.
func NewClientEvents(client kubernetes.Interface, logger klog.Logger) *ClientEvents {
	host, _ := os.Hostname()
	if host == "" {
		host = "unknown"
	}
	return &ClientEvents{client: client, instance: host, logger: logger}
}

// maxNoteLength is the longest note the API server accepts.
const maxNoteLength = 1024

// Event implements EventSink. Failures are logged: an Event is a report, never a
// reason to stop acting.
func (c *ClientEvents) Event(regarding, related *v1.ObjectReference, eventType, reason, note string) {
	now := time.Now()
	if len(note) > maxNoteLength {
		note = note[:maxNoteLength-3] + "..."
	}
	ev := &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: eventName(regarding.Name, now), Namespace: regarding.Namespace},
		EventTime:           metav1.NewMicroTime(now),
		ReportingController: reportingController,
		ReportingInstance:   reportingController + "-" + c.instance,
		Action:              eventAction,
		Reason:              reason,
		Regarding:           *regarding,
		Related:             related,
		Note:                note,
		Type:                eventType,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.client.EventsV1().Events(ev.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		c.logger.Error(err, "Recording Event", "regarding", regarding.Kind+" "+regarding.Namespace+"/"+regarding.Name, "reason", reason)
	}
}

// eventName is <object>.<time><random>, unique even for Events of the same instant,
// with the object's name shortened so the result stays a valid name.
func eventName(object string, now time.Time) string {
	if len(object) > 200 {
		object = object[:200]
	}
	return fmt.Sprintf("%s.%x%s", object, now.UnixNano(), utilrand.String(5))
}

// reportingController names the plugin as the source of its Events.
const reportingController = "tensile.dev/recreate-unschedulable"

// event records an Event about regarding (a pod or a PlacementExclusion), with
// related as the other object involved (nil for none). In dry-run mode the Event is
// only logged: the plugin must leave no trace in the cluster.
func (p *RecreateUnschedulable) event(regarding, related runtime.Object, eventType, reason, format string, args ...any) {
	reg := reference(regarding)
	if reg == nil {
		return
	}
	note := fmt.Sprintf(format, args...)
	if p.opts.DryRun {
		p.logger.Info("Dry run: would record Event", "regarding", reg.Kind+" "+reg.Namespace+"/"+reg.Name,
			"type", eventType, "reason", reason, "note", note)
		return
	}
	p.opts.Events.Event(reg, reference(related), eventType, reason, note)
}

// reference returns an object reference for the kinds the plugin reports on, so no
// scheme is needed for the PlacementExclusion kind, or nil for nil or unstored objects.
func reference(obj runtime.Object) *v1.ObjectReference {
	switch o := obj.(type) {
	case *v1.Pod:
		if o == nil {
			return nil
		}
		return &v1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: o.Namespace, Name: o.Name, UID: o.UID, ResourceVersion: o.ResourceVersion}
	case *v1alpha1.PlacementExclusion:
		if o == nil || o.UID == "" {
			return nil // not stored (dry run): nothing to attach an Event to
		}
		return &v1.ObjectReference{APIVersion: v1alpha1.SchemeGroupVersion.String(), Kind: v1alpha1.PlacementExclusionKind,
			Namespace: o.Namespace, Name: o.Name, UID: o.UID, ResourceVersion: o.ResourceVersion}
	}
	return nil
}

var (
	actions = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace: "tensile", Subsystem: "descheduler", Name: "recreate_unschedulable_actions_total",
		Help:           "Pods moved off virtual nodes by RecreateUnschedulable, by action (recreated, excluded, capped, failed).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"action"})
)

// The plugin's metrics join the registry the descheduler serves at init, as every
// package of this project registers its own.
func init() {
	legacyregistry.MustRegister(actions)
}

func countAction(action string) {
	actions.WithLabelValues(action).Inc()
}
