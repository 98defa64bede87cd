package provider

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tensile-kube/tensile/internal/reflector"
	"github.com/tensile-kube/tensile/internal/translate"
)

// anchor returns the controller ownerReference the lower pods of this node carry in
// lowerNS (see translate.AnchorReference), creating the namespace's anchor Lease when
// it is missing. A Lease of that name that is not ours is in the way: the pod waits
// (reflector.ErrForeign), since without a controller of ours a lower controller could
// adopt and delete it. An anchor being deleted is waited out: pods owned by it would be
// collected with it.
func (p *Provider) anchor(ctx context.Context, lowerNS string) (metav1.OwnerReference, error) {
	o := p.cfg.Owner
	if l, err := p.anchors.Leases(lowerNS).Get(o.AnchorName()); err == nil && o.Owns(l) && l.DeletionTimestamp == nil {
		return translate.AnchorReference(l), nil
	}
	leases := p.cfg.Lower.CoordinationV1().Leases(lowerNS)
	l, err := leases.Create(ctx, o.Anchor(lowerNS), metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		l, err = leases.Get(ctx, o.AnchorName(), metav1.GetOptions{})
	}
	switch {
	case err != nil:
		return metav1.OwnerReference{}, fmt.Errorf("anchor Lease %s/%s: %w", lowerNS, o.AnchorName(), err)
	case !o.Owns(l):
		return metav1.OwnerReference{}, fmt.Errorf("anchor Lease %s/%s: %w: the lower pod needs it as its controller", lowerNS, l.Name, reflector.ErrForeign)
	case l.DeletionTimestamp != nil:
		return metav1.OwnerReference{}, fmt.Errorf("anchor Lease %s/%s is being deleted; retrying", lowerNS, l.Name)
	}
	return translate.AnchorReference(l), nil
}
