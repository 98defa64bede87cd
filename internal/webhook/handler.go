package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// maxReviewBytes bounds the request body. The API server's own limit on an object is
// about 3 MiB; an AdmissionReview carries the object once for CREATE.
const maxReviewBytes = 8 << 20

// The resources this webhook mutates.
var (
	podResource       = metav1.GroupVersionResource{Version: "v1", Resource: "pods"}
	daemonSetResource = metav1.GroupVersionResource{Group: "apps", Version: "v1", Resource: "daemonsets"}
)

// ExclusionSource tells which virtual nodes the new pods of a controller must avoid.
type ExclusionSource interface {
	// Exclusions returns the nodes the pods of owner, in namespace, must avoid at now.
	// An error means the answer is unknown (for instance, not loaded yet).
	Exclusions(namespace string, owner *metav1.OwnerReference, now time.Time) ([]string, error)
}

// HandlerConfig configures a Handler.
type HandlerConfig struct {
	// Options are passed to Mutate.
	Options Options
	// Exclusions supplies placement exclusions; nil means none are injected.
	Exclusions ExclusionSource
	// Clock tells the time exclusions are judged at; nil means the real clock.
	Clock clock.PassiveClock
	// SkipDaemonSets passes DaemonSets through unchanged instead of keeping them off
	// virtual nodes (MutateDaemonSet). The zero value keeps them off: the virtual
	// node refuses their pods anyway, and refused pods stall rollouts.
	SkipDaemonSets bool
	// TrustedUsers are the user names (AdmissionRequest userInfo) whose new pods keep
	// every tensile.dev annotation they carry (see DefaultTrustedUsers). Everyone
	// else's lose those their authors may not set (DropReserved).
	TrustedUsers []string
	// Sealer seals the constraints the webhook saves, so that it recognises them
	// when they come back; nil means a random key of this process.
	Sealer *Sealer
}

// Handler serves Mutate and MutateDaemonSet as an AdmissionReview v1 endpoint.
type Handler struct {
	cfg HandlerConfig
}

var _ http.Handler = (*Handler)(nil)

// NewHandler returns a Handler for cfg, defaulting the clock.
func NewHandler(cfg HandlerConfig) *Handler {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Sealer == nil {
		cfg.Sealer = NewSealer(nil)
	}
	return &Handler{cfg: cfg}
}

// ServeHTTP decodes an AdmissionReview v1, answers it, and never panics on bad input:
// a body that is not an AdmissionReview with a request gets HTTP 400.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.Method != http.MethodPost {
		http.Error(w, "admission reviews are POSTed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxReviewBytes+1))
	if err != nil || len(body) > maxReviewBytes {
		http.Error(w, "request body unreadable or too large", http.StatusBadRequest)
		return
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
		http.Error(w, fmt.Sprintf("expected an AdmissionReview with a request: %v", err), http.StatusBadRequest)
		return
	}
	resp, result := h.Review(r.Context(), review.Request)
	resp.UID = review.Request.UID
	out := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "AdmissionReview"},
		Response: resp,
	}
	raw, err := json.Marshal(out)
	if err != nil {
		http.Error(w, "encoding the review failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(raw)
	observe(result, time.Since(start))
}

// Result names how a review ended, for metrics and logs.
type Result string

// The results a review can have.
const (
	ResultMutated     Result = "mutated"
	ResultUnchanged   Result = "unchanged"
	ResultPassThrough Result = "passthrough"
	ResultDenied      Result = "denied"
)

// Review answers one admission request: a pod CREATE (Mutate) or a DaemonSet CREATE
// or UPDATE (MutateDaemonSet). Other operations on them are allowed unchanged, and so
// is any other resource or subresource, with a warning, since only a misconfigured
// registration sends those. An object that cannot be decoded, or a pod whose saved
// constraints are malformed, is denied with HTTP 400 in the status.
func (h *Handler) Review(ctx context.Context, req *admissionv1.AdmissionRequest) (*admissionv1.AdmissionResponse, Result) {
	logger := klog.FromContext(ctx).WithValues("uid", req.UID, "namespace", req.Namespace, "name", req.Name)
	switch {
	case req.SubResource != "":
	case req.Resource == podResource:
		return h.reviewPod(logger, req)
	case req.Resource == daemonSetResource:
		return h.reviewDaemonSet(logger, req)
	}
	return &admissionv1.AdmissionResponse{Allowed: true, Warnings: []string{
		fmt.Sprintf("tensile webhook: %s/%s %s is not a pod or DaemonSet; passed through unchanged", req.Resource.Group, req.Resource.Resource, req.SubResource),
	}}, ResultPassThrough
}

// reviewPod answers a request for a pod.
func (h *Handler) reviewPod(logger klog.Logger, req *admissionv1.AdmissionRequest) (*admissionv1.AdmissionResponse, Result) {
	if req.Operation != admissionv1.Create {
		return &admissionv1.AdmissionResponse{Allowed: true}, ResultPassThrough
	}
	pod := &corev1.Pod{}
	if err := json.Unmarshal(req.Object.Raw, pod); err != nil {
		return deny(fmt.Errorf("decoding the pod: %w", err)), ResultDenied
	}
	if pod.Namespace == "" {
		pod.Namespace = req.Namespace
	}
	in, warnings := pod, []string(nil)
	if !slices.Contains(h.cfg.TrustedUsers, req.UserInfo.Username) {
		var dropped []string
		if in, dropped = DropReserved(pod, h.cfg.Sealer); len(dropped) > 0 {
			logger.V(2).Info("Dropped annotations the pod's author may not set", "user", req.UserInfo.Username, "keys", dropped)
			warnings = append(warnings, fmt.Sprintf("tensile webhook: dropped annotations %s: only tensile components set them (a pod's author may set %s)",
				strings.Join(dropped, ", "), strings.Join(UserAnnotations, ", ")))
		}
	}
	exclusions, xw := h.exclusions(in)
	warnings = append(warnings, xw...)
	mutated, mw, err := Mutate(in, h.cfg.Options, exclusions)
	if err != nil {
		logger.Info("Denying pod", "err", err)
		return deny(err), ResultDenied
	}
	sealConstraints(mutated, h.cfg.Sealer)
	warnings = append(warnings, mw...)
	ops, err := CreatePatch(pod, mutated)
	resp, result := patchResponse(ops, err, warnings)
	if result == ResultMutated {
		logger.V(4).Info("Mutated pod", "excluded", exclusions, "patch", string(resp.Patch))
		if len(exclusions) > 0 {
			exclusionsInjected.Inc()
		}
	}
	return resp, result
}

// reviewDaemonSet answers a request for a DaemonSet. UPDATE is mutated too: it
// carries the whole object, so a new version (a kube-proxy upgrade) keeps the
// exclusion, and an already mutated one gets an empty patch.
func (h *Handler) reviewDaemonSet(logger klog.Logger, req *admissionv1.AdmissionRequest) (*admissionv1.AdmissionResponse, Result) {
	if h.cfg.SkipDaemonSets || (req.Operation != admissionv1.Create && req.Operation != admissionv1.Update) {
		return &admissionv1.AdmissionResponse{Allowed: true}, ResultPassThrough
	}
	ds := &appsv1.DaemonSet{}
	if err := json.Unmarshal(req.Object.Raw, ds); err != nil {
		return deny(fmt.Errorf("decoding the DaemonSet: %w", err)), ResultDenied
	}
	mutated, warnings := MutateDaemonSet(ds)
	ops, err := createPatch(ds, mutated, daemonSetSections)
	resp, result := patchResponse(ops, err, warnings)
	if result == ResultMutated {
		logger.V(4).Info("Kept DaemonSet off virtual nodes", "patch", string(resp.Patch))
	}
	return resp, result
}

// patchResponse allows the request with ops as its JSON patch, or unchanged when ops
// is empty. err (building ops failed) is an internal error, and denies.
func patchResponse(ops []PatchOperation, err error, warnings []string) (*admissionv1.AdmissionResponse, Result) {
	if err == nil && len(ops) == 0 {
		return &admissionv1.AdmissionResponse{Allowed: true, Warnings: warnings}, ResultUnchanged
	}
	var patch []byte
	if err == nil {
		patch, err = json.Marshal(ops)
	}
	if err != nil {
		return &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{
			Status: metav1.StatusFailure, Code: http.StatusInternalServerError, Reason: metav1.StatusReasonInternalError,
			Message: fmt.Sprintf("tensile webhook: building the patch: %v", err),
		}}, ResultDenied
	}
	pt := admissionv1.PatchTypeJSONPatch
	return &admissionv1.AdmissionResponse{Allowed: true, Patch: patch, PatchType: &pt, Warnings: warnings}, ResultMutated
}

// exclusions looks up the active exclusions of the pod's controller. A lookup that
// fails only costs the pod its exclusions (the descheduler will move it again if it
// is stuck), so it is a warning, not a denial.
func (h *Handler) exclusions(pod *corev1.Pod) ([]string, []string) {
	owner := metav1.GetControllerOf(pod)
	if owner == nil || h.cfg.Exclusions == nil {
		return nil, nil
	}
	nodes, err := h.cfg.Exclusions.Exclusions(pod.Namespace, owner, h.cfg.Clock.Now())
	if err != nil {
		return nil, []string{fmt.Sprintf("tensile webhook: placement exclusions not applied: %v", err)}
	}
	return nodes, nil
}

func deny(err error) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusBadRequest, Reason: metav1.StatusReasonBadRequest,
		Message: "tensile webhook: " + err.Error(),
	}}
}

// errNotSynced is returned while the exclusion cache is still loading.
var errNotSynced = errors.New("placement exclusions are still loading")
