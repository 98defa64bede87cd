package kubeletapi

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/apis/certificates"
)

// approveInterval is how often pending requests are looked for. The first certificate
// waits for it, so it is short; one filtered list every few seconds costs little.
const approveInterval = 3 * time.Second

// approver approves the node's own kubelet-serving CertificateSigningRequests: those
// its own identity created, for system:node:<node>, with a kubelet's usages.
type approver struct {
	client   kubernetes.Interface
	nodeName string
	// whoAmI returns the username the upper cluster knows the node by.
	whoAmI func(ctx context.Context) (string, error)
	self   string
}

// newApprover returns an approver that learns its identity through SelfSubjectReview.
func newApprover(client kubernetes.Interface, nodeName string) *approver {
	return &approver{client: client, nodeName: nodeName, whoAmI: func(ctx context.Context) (string, error) {
		r, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			return "", err
		}
		return r.Status.UserInfo.Username, nil
	}}
}

// run approves matching requests until ctx is done.
func (a *approver) run(ctx context.Context) {
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		if err := a.approvePending(ctx); err != nil {
			klog.FromContext(ctx).Error(err, "Approving the node's own serving certificate request", "node", a.nodeName)
		}
	}, approveInterval)
}

// approvePending approves every pending request that shouldApprove accepts.
func (a *approver) approvePending(ctx context.Context) error {
	if a.self == "" {
		self, err := a.whoAmI(ctx)
		if err != nil {
			return fmt.Errorf("learning own identity: %w", err)
		}
		a.self = self
	}
	csrs := a.client.CertificatesV1().CertificateSigningRequests()
	list, err := csrs.List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.signerName", certificatesv1.KubeletServingSignerName).String(),
	})
	if err != nil {
		return fmt.Errorf("listing certificate signing requests: %w", err)
	}
	for i := range list.Items {
		csr := &list.Items[i]
		if ok, why := shouldApprove(csr, a.nodeName, a.self); !ok {
			klog.FromContext(ctx).V(5).Info("Not approving certificate signing request", "csr", csr.Name, "reason", why)
			continue
		}
		csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
			Type:           certificatesv1.CertificateApproved,
			Status:         corev1.ConditionTrue,
			Reason:         "SelfApproved",
			Message:        "approved by virtual node " + a.nodeName + " for its own kubelet API",
			LastUpdateTime: metav1.Now(),
		})
		if _, err := csrs.UpdateApproval(ctx, csr.Name, csr, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("approving %s: %w", csr.Name, err)
		}
		klog.FromContext(ctx).Info("Approved own serving certificate request", "csr", csr.Name, "node", a.nodeName)
	}
	return nil
}

// shouldApprove reports whether csr is a pending kubelet-serving request of this node,
// made by self, and why not otherwise. It checks what the kubelet-serving signer checks
// (with the signer's own validation) and who asked, so that the node can never approve a certificate for anyone else.
func shouldApprove(csr *certificatesv1.CertificateSigningRequest, nodeName, self string) (bool, string) {
	for _, c := range csr.Status.Conditions {
		switch c.Type {
		case certificatesv1.CertificateApproved, certificatesv1.CertificateDenied, certificatesv1.CertificateFailed:
			return false, "already " + string(c.Type)
		}
	}
	if csr.Spec.SignerName != certificatesv1.KubeletServingSignerName {
		return false, "signer " + csr.Spec.SignerName
	}
	if self == "" || csr.Spec.Username != self {
		return false, "requested by " + csr.Spec.Username
	}
	block, _ := pem.Decode(csr.Spec.Request)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return false, "request is not a PEM certificate request"
	}
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return false, "request does not parse: " + err.Error()
	}
	if req.Subject.CommonName != "system:node:"+nodeName {
		return false, "common name " + req.Subject.CommonName
	}
	// The shape the kubelet-serving signer signs (organization, SANs, exact usages).
	usages := sets.NewString()
	for _, u := range csr.Spec.Usages {
		usages.Insert(string(u))
	}
	if err := certificates.ValidateKubeletServingCSR(req, usages); err != nil {
		return false, err.Error()
	}
	return true, ""
}
