package webhook

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
	"github.com/tensile-kube/tensile/pkg/placement"
)

// RecordGetter reads PlacementExclusion records from a cache; placement.Cache is one.
type RecordGetter interface {
	// Get returns the named record; ok is false when there is none.
	Get(namespace, name string) (rec *v1alpha1.PlacementExclusion, ok bool, err error)
	// HasSynced reports whether the cache holds the first full list.
	HasSynced() bool
}

// RecordExclusions is the ExclusionSource backed by PlacementExclusion records: the
// record named after the pod's controller, if it belongs to that very controller (same
// UID), gives its unexpired nodes.
type RecordExclusions struct {
	records RecordGetter
}

var (
	_ ExclusionSource = (*RecordExclusions)(nil)
	_ RecordGetter    = (*placement.Cache)(nil)
)

// NewRecordExclusions returns an ExclusionSource reading records.
func NewRecordExclusions(records RecordGetter) *RecordExclusions {
	return &RecordExclusions{records: records}
}

// Exclusions implements ExclusionSource.
func (r *RecordExclusions) Exclusions(namespace string, owner *metav1.OwnerReference, now time.Time) ([]string, error) {
	if !r.records.HasSynced() {
		return nil, errNotSynced
	}
	rec, ok, err := r.records.Get(namespace, placement.RecordName(owner.Kind, owner.Name))
	if err != nil || !ok || !placement.Matches(rec, *owner) {
		return nil, err
	}
	return placement.Active(rec.Spec.Exclusions, now), nil
}
