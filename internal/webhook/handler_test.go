package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/tensile-kube/tensile/pkg/apis/tensile/v1alpha1"
	"github.com/tensile-kube/tensile/pkg/constraints"
	"github.com/tensile-kube/tensile/pkg/placement"
	"github.com/tensile-kube/tensile/pkg/vnodeident"
)

// decodeResponse decodes the AdmissionReview the handler wrote and returns its
// response, failing the test on a malformed one (request UID req-1).
func decodeResponse(t *testing.T, rec *httptest.ResponseRecorder) *admissionv1.AdmissionResponse {
	t.Helper()
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if out.Kind != "AdmissionReview" || out.Response == nil || out.Response.UID != "req-1" {
		t.Fatalf("malformed response %+v", out)
	}
	return out.Response
}

// applyPatch applies patch to a pod the way the API server does.
func applyPatch(t *testing.T, original *corev1.Pod, patch []byte) *corev1.Pod {
	t.Helper()
	return applyPatchTo(t, original, patch)
}

func TestCreatePatchReproducesMutation(t *testing.T) {
	for name, in := range map[string]*corev1.Pod{
		"plain": podWith(nil),
		"everything": podWith(func(p *corev1.Pod) {
			p.Annotations = map[string]string{"a/b~c": "x"}
			p.Spec.NodeSelector = map[string]string{"disk": "ssd"}
			p.Spec.Tolerations = []corev1.Toleration{userTol}
			p.Spec.Affinity = requiredAff(nodeSelector(terms(gpu)))
		}),
		// Found by FuzzMutate: int64 fields must survive the patch exactly.
		"large int64 in a replaced field": withSaved(t, podWith(func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists,
				Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](3706853784785591760)}}
		}), constraints.Constraints{}),
	} {
		t.Run(name, func(t *testing.T) {
			mutated, _, err := Mutate(in, DefaultOptions(), []string{"vk-a"})
			if err != nil {
				t.Fatal(err)
			}
			ops, err := CreatePatch(in, mutated)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := json.Marshal(ops)
			if diff := cmp.Diff(mutated, applyPatch(t, in, raw)); diff != "" {
				t.Errorf("patched pod differs from Mutate's (-want +got):\n%s", diff)
			}
			if ops, _ := CreatePatch(mutated, mutated); len(ops) != 0 {
				t.Errorf("patch between equal pods: %v", ops)
			}
		})
	}
}

// fakeExclusions is an ExclusionSource answering from a map keyed by owner UID.
type fakeExclusions struct {
	nodes map[types.UID][]string
	err   error
}

func (f fakeExclusions) Exclusions(_ string, owner *metav1.OwnerReference, _ time.Time) ([]string, error) {
	return f.nodes[owner.UID], f.err
}

func review(t *testing.T, op admissionv1.Operation, res metav1.GroupVersionResource, obj any) []byte {
	t.Helper()
	return reviewAs(t, "alice", op, res, obj)
}

// reviewAs is review with the request made by user.
func reviewAs(t *testing.T, user string, op admissionv1.Operation, res metav1.GroupVersionResource, obj any) []byte {
	t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: "req-1", Operation: op, Resource: res, Namespace: "ns", Object: runtime.RawExtension{Raw: raw},
			UserInfo: authenticationv1.UserInfo{Username: user},
		},
	})
	return b
}

func owned(p *corev1.Pod) {
	p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: "rs-1", Controller: ptr.To(true)}}
}

func TestHandler(t *testing.T) {
	rsPod := podWith(owned)
	for _, tc := range []struct {
		name        string
		body        []byte
		source      ExclusionSource
		wantStatus  int
		wantAllowed bool
		wantPatched bool
		wantCode    int32
		wantWarning string
		check       func(t *testing.T, mutated *corev1.Pod)
	}{
		{name: "pod create is mutated with its owner's exclusions",
			body:       review(t, admissionv1.Create, podResource, rsPod),
			source:     fakeExclusions{nodes: map[types.UID][]string{"rs-1": {"vk-a"}}},
			wantStatus: 200, wantAllowed: true, wantPatched: true,
			check: func(t *testing.T, p *corev1.Pod) {
				want := requiredAff(nodeSelector(terms(expr(corev1.LabelHostname, corev1.NodeSelectorOpNotIn, "vk-a"))))
				if diff := cmp.Diff(want, p.Spec.Affinity); diff != "" {
					t.Errorf("affinity (-want +got):\n%s", diff)
				}
			}},
		{name: "exclusions not loaded: mutated with a warning",
			body:       review(t, admissionv1.Create, podResource, rsPod),
			source:     fakeExclusions{err: errors.New("still loading")},
			wantStatus: 200, wantAllowed: true, wantPatched: true, wantWarning: "not applied"},
		{name: "update passes through", body: review(t, admissionv1.Update, podResource, rsPod),
			wantStatus: 200, wantAllowed: true},
		{name: "not a pod passes through with a warning",
			body:       review(t, admissionv1.Create, metav1.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, map[string]string{}),
			wantStatus: 200, wantAllowed: true, wantWarning: "not a pod"},
		{name: "undecodable pod is denied",
			body:       review(t, admissionv1.Create, podResource, map[string]any{"spec": "nope"}),
			wantStatus: 200, wantCode: 400},
		{name: "malformed saved constraints from a trusted user are denied",
			body: reviewAs(t, DefaultTrustedUsers()[0], admissionv1.Create, podResource, podWith(func(p *corev1.Pod) {
				p.Annotations = map[string]string{constraints.Annotation: "]"}
			})),
			wantStatus: 200, wantCode: 400},
		{name: "garbage body is a bad request", body: []byte("{"), wantStatus: 400},
		{name: "review without request is a bad request", body: []byte(`{"kind":"AdmissionReview"}`), wantStatus: 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHandler(HandlerConfig{Options: DefaultOptions(), Exclusions: tc.source, TrustedUsers: DefaultTrustedUsers()})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, MutatePath, bytes.NewReader(tc.body)))
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.wantStatus, rec.Body)
			}
			if rec.Code != 200 {
				return
			}
			r := decodeResponse(t, rec)
			if r.Allowed != tc.wantAllowed || (r.Patch != nil) != tc.wantPatched {
				t.Errorf("allowed=%v patched=%v, want %v %v", r.Allowed, r.Patch != nil, tc.wantAllowed, tc.wantPatched)
			}
			if tc.wantCode != 0 && (r.Result == nil || r.Result.Code != tc.wantCode) {
				t.Errorf("result %+v, want code %d", r.Result, tc.wantCode)
			}
			if tc.wantWarning != "" && !strings.Contains(strings.Join(r.Warnings, "\n"), tc.wantWarning) {
				t.Errorf("warnings %q, want one containing %q", r.Warnings, tc.wantWarning)
			}
			if tc.check != nil {
				tc.check(t, applyPatch(t, rsPod, r.Patch))
			}
		})
	}
}

func TestHandlerRejectsGet(t *testing.T) {
	rec := httptest.NewRecorder()
	NewHandler(HandlerConfig{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, MutatePath, nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("status %d", rec.Code)
	}
}

// recordGetter is an in-memory RecordGetter.
type recordGetter map[string]*v1alpha1.PlacementExclusion

func (g recordGetter) Get(ns, name string) (*v1alpha1.PlacementExclusion, bool, error) {
	r, ok := g[ns+"/"+name]
	return r, ok, nil
}

func (g recordGetter) HasSynced() bool { return g != nil }

func TestRecordExclusions(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	owner := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: "rs-1"}
	rec := placement.NewRecord("ns", owner)
	rec.Spec.Exclusions = []v1alpha1.NodeExclusion{
		{Node: "vk-a", ExpiresAt: metav1.NewTime(now.Add(time.Minute))},
		{Node: "vk-old", ExpiresAt: metav1.NewTime(now.Add(-time.Minute))},
	}
	src := NewRecordExclusions(recordGetter{"ns/replicaset-web": rec})
	for _, tc := range []struct {
		name  string
		ns    string
		owner metav1.OwnerReference
		want  []string
	}{
		{name: "active entries of the owner", ns: "ns", owner: owner, want: []string{"vk-a"}},
		{name: "another controller with the same name", ns: "ns", owner: metav1.OwnerReference{Kind: "ReplicaSet", Name: "web", UID: "rs-2"}},
		{name: "another namespace", ns: "other", owner: owner},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := src.Exclusions(tc.ns, &tc.owner, now)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if _, err := NewRecordExclusions(recordGetter(nil)).Exclusions("ns", &owner, now); err == nil {
		t.Error("an unsynced cache gave an answer")
	}
}

// applyPatchTo applies patch to original the way the API server does and decodes the
// result as a T.
func applyPatchTo[T any](t *testing.T, original *T, patch []byte) *T {
	t.Helper()
	doc, err := json.Marshal(original)
	if err != nil {
		t.Fatal(err)
	}
	p, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		t.Fatalf("decoding patch %s: %v", patch, err)
	}
	out, err := p.Apply(doc)
	if err != nil {
		t.Fatalf("applying patch %s: %v", patch, err)
	}
	obj := new(T)
	if err := json.Unmarshal(out, obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

// TestHandlerDaemonSet runs DaemonSet reviews through ServeHTTP and applies the
// returned patch to the reviewed object.
func TestHandlerDaemonSet(t *testing.T) {
	preferred := &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: preferTerm}}
	for _, tc := range []struct {
		name         string
		op           admissionv1.Operation
		obj          any
		skip         bool
		wantAllowed  bool
		wantPatch    []string // "op path" of each operation; nil means no patch
		wantAffinity *corev1.Affinity
		wantCode     int32
		wantMessage  string
		wantWarning  string
	}{
		{name: "create gets a required node affinity",
			op: admissionv1.Create, obj: daemonSet(nil), wantAllowed: true,
			wantPatch:    []string{"add /spec/template/spec/affinity"},
			wantAffinity: requiredAff(nodeSelector(terms(excl)))},
		{name: "update keeps the rest of the affinity",
			op: admissionv1.Update, obj: daemonSet(withAffinity(preferred)), wantAllowed: true,
			wantPatch: []string{"replace /spec/template/spec/affinity"},
			wantAffinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				PreferredDuringSchedulingIgnoredDuringExecution: preferTerm,
				RequiredDuringSchedulingIgnoredDuringExecution:  nodeSelector(terms(excl)),
			}}},
		{name: "update of an already mutated DaemonSet: no patch",
			op: admissionv1.Update, obj: daemonSet(withAffinity(requiredAff(nodeSelector(terms(gpu, excl))))), wantAllowed: true},
		{name: "opted in: no patch",
			op: admissionv1.Create, obj: daemonSet(annotated(vnodeident.ValueAllow)), wantAllowed: true},
		{name: "another annotation value: patched, with a warning",
			op: admissionv1.Create, obj: daemonSet(annotated("yes")), wantAllowed: true,
			wantPatch: []string{"add /spec/template/spec/affinity"}, wantAffinity: requiredAff(nodeSelector(terms(excl))),
			wantWarning: "is not \"allow\""},
		{name: "delete passes through",
			op: admissionv1.Delete, obj: daemonSet(nil), wantAllowed: true},
		{name: "turned off: passes through",
			op: admissionv1.Create, obj: daemonSet(nil), skip: true, wantAllowed: true},
		{name: "undecodable DaemonSet is denied",
			op: admissionv1.Create, obj: map[string]any{"spec": map[string]any{"template": "nope"}},
			wantCode: 400, wantMessage: "decoding the DaemonSet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHandler(HandlerConfig{Options: DefaultOptions(), SkipDaemonSets: tc.skip})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, MutatePath, bytes.NewReader(review(t, tc.op, daemonSetResource, tc.obj))))
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			r := decodeResponse(t, rec)
			if r.Allowed != tc.wantAllowed {
				t.Errorf("allowed=%v, want %v", r.Allowed, tc.wantAllowed)
			}
			if tc.wantCode != 0 && (r.Result == nil || r.Result.Code != tc.wantCode || !strings.Contains(r.Result.Message, tc.wantMessage)) {
				t.Errorf("result %+v, want code %d and a message containing %q", r.Result, tc.wantCode, tc.wantMessage)
			}
			if tc.wantWarning != "" && !strings.Contains(strings.Join(r.Warnings, "\n"), tc.wantWarning) {
				t.Errorf("warnings %q, want one containing %q", r.Warnings, tc.wantWarning)
			}
			if tc.wantPatch == nil {
				if r.Patch != nil || r.PatchType != nil {
					t.Errorf("patch %s, want none", r.Patch)
				}
				return
			}
			if r.PatchType == nil || *r.PatchType != admissionv1.PatchTypeJSONPatch {
				t.Errorf("patch type %v", r.PatchType)
			}
			var ops []PatchOperation
			if err := json.Unmarshal(r.Patch, &ops); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, op := range ops {
				got = append(got, op.Op+" "+op.Path)
			}
			if diff := cmp.Diff(tc.wantPatch, got); diff != "" {
				t.Errorf("patch operations (-want +got):\n%s", diff)
			}
			in := tc.obj.(*appsv1.DaemonSet)
			patched := applyPatchTo(t, in, r.Patch)
			want := in.DeepCopy()
			want.Spec.Template.Spec.Affinity = tc.wantAffinity
			if diff := cmp.Diff(want, patched); diff != "" {
				t.Errorf("patched DaemonSet (-want +got):\n%s", diff)
			}
			// The next UPDATE re-admits the patched object: nothing more to do.
			again, result := h.Review(t.Context(), &admissionv1.AdmissionRequest{
				UID: "req-2", Operation: admissionv1.Update, Resource: daemonSetResource,
				Object: runtime.RawExtension{Raw: mustJSON(t, patched)},
			})
			if result != ResultUnchanged || again.Patch != nil {
				t.Errorf("re-admitted patched DaemonSet: result %s, patch %s", result, again.Patch)
			}
		})
	}
}

func TestReviewPassesSubresourcesThrough(t *testing.T) {
	resp, result := NewHandler(HandlerConfig{}).Review(t.Context(), &admissionv1.AdmissionRequest{
		Operation: admissionv1.Update, Resource: daemonSetResource, SubResource: "status",
		Object: runtime.RawExtension{Raw: mustJSON(t, daemonSet(nil))},
	})
	if !resp.Allowed || resp.Patch != nil || result != ResultPassThrough || len(resp.Warnings) != 1 {
		t.Errorf("response %+v, result %s; want allowed, unpatched, passthrough, one warning", resp, result)
	}
}

func mustJSON(t *testing.T, obj any) []byte {
	t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
