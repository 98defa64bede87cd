package kubeletapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"
)

// ErrLowerUnavailable marks errors caused by a lower cluster that cannot be reached or
// does not answer. Handler answers them with 503 Service Unavailable, where virtual-kubelet
// alone would answer 500.
var ErrLowerUnavailable = errors.New("lower cluster unavailable")

// lowerError turns an error of a call to the lower API server into one that both
// virtual-kubelet and Handler map to the status a kubelet would answer. The errdefs
// wrappers stay outermost because virtual-kubelet finds them through Cause, not Unwrap.
func lowerError(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case apierrors.IsNotFound(err):
		return errdefs.AsNotFound(fmt.Errorf("%s: %w", what, err))
	case apierrors.IsBadRequest(err), apierrors.IsInvalid(err):
		return errdefs.AsInvalidInput(fmt.Errorf("%s: %w", what, err))
	case isUnavailable(err):
		return fmt.Errorf("%s: %w: %w", what, ErrLowerUnavailable, err)
	default:
		return fmt.Errorf("%s: %w", what, err)
	}
}

// isUnavailable reports whether err means the lower API server could not be reached or
// asked us to come back later, as opposed to having answered the request.
func isUnavailable(err error) bool {
	switch {
	case apierrors.IsServiceUnavailable(err), apierrors.IsServerTimeout(err),
		apierrors.IsTimeout(err), apierrors.IsTooManyRequests(err):
		return true
	case errors.Is(err, context.DeadlineExceeded):
		return true
	case utilnet.IsConnectionRefused(err), utilnet.IsConnectionReset(err), utilnet.IsProbableEOF(err):
		return true
	}
	// client-go wraps every transport failure (dial, TLS, timeouts) in a *url.Error,
	// which is a net.Error; an API status error never is.
	var netErr net.Error
	return errors.As(err, &netErr)
}

// isNotFound reports whether err, however wrapped, is a not-found error.
func isNotFound(err error) bool {
	var nf errdefs.ErrNotFound
	return (errors.As(err, &nf) && nf.NotFound()) || apierrors.IsNotFound(err)
}

// isInvalidInput reports whether err, however wrapped, is the caller's mistake.
func isInvalidInput(err error) bool {
	var ii errdefs.ErrInvalidInput
	return (errors.As(err, &ii) && ii.InvalidInput()) || apierrors.IsBadRequest(err)
}

// StatusCode returns the HTTP status a kubelet would answer err with: 404 for an unknown
// pod or container, 400 for a bad request, 503 when the lower cluster is unavailable and
// 500 otherwise.
func StatusCode(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case isNotFound(err):
		return http.StatusNotFound
	case isInvalidInput(err):
		return http.StatusBadRequest
	case errors.Is(err, ErrLowerUnavailable):
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}
