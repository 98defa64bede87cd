package kubeletapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
)

// Where an API server publishes the CA that signs its clients' certificates, readable by
// the extension-apiserver-authentication-reader role.
const (
	clientCANamespace = "kube-system"
	clientCAConfigMap = "extension-apiserver-authentication"
	clientCAKey       = "client-ca-file"
)

// AuthConfig configures an Auth.
type AuthConfig struct {
	// NodeName is the virtual node's name: requests are authorized as access to
	// nodes/<NodeName>/<subresource>. Required.
	NodeName string
	// Client is a client of the upper cluster, for TokenReview, SubjectAccessReview and
	// the client CA ConfigMap. Required unless Authenticator and Authorizer are both set.
	Client kubernetes.Interface
	// ClientCAFile is the CA bundle client certificates are verified against. Defaults
	// to the upper cluster's kube-system/extension-apiserver-authentication ConfigMap.
	ClientCAFile string
	// Authenticator replaces the client certificate and TokenReview authenticator.
	Authenticator authenticator.Request
	// Authorizer replaces the SubjectAccessReview authorizer.
	Authorizer authorizer.UnconditionalAuthorizer
}

// Auth authenticates kubelet API requests by client certificate or bearer token and
// authorizes them through SubjectAccessReview, with kubelet's defaults and its mapping
// of paths to node subresources.
type Auth struct {
	nodeName string
	authn    authenticator.Request
	authz    authorizer.UnconditionalAuthorizer
	ca       caSource
	// caTimeout bounds how long Start waits for the client CA.
	caTimeout time.Duration
}

// caSource is a client CA bundle that is loaded once and then kept current.
type caSource interface {
	dynamiccertificates.CAContentProvider
	RunOnce(ctx context.Context) error
	Run(ctx context.Context, workers int)
}

// NewAuth validates cfg and returns an Auth. Client certificates are only accepted once
// Start has loaded the client CA.
func NewAuth(cfg AuthConfig) (*Auth, error) {
	if cfg.NodeName == "" {
		return nil, errors.New("kubeletapi: NodeName is required")
	}
	if cfg.Client == nil && (cfg.Authenticator == nil || cfg.Authorizer == nil) {
		return nil, errors.New("kubeletapi: Client is required unless Authenticator and Authorizer are set")
	}
	a := &Auth{nodeName: cfg.NodeName, authn: cfg.Authenticator, authz: cfg.Authorizer, caTimeout: 30 * time.Second}
	// Defaults from kubelet's configuration (k8s.io/kubernetes/pkg/kubelet/apis/config/v1beta1).
	backoff := &wait.Backoff{Duration: 500 * time.Millisecond, Factor: 1.5, Jitter: 0.2, Steps: 5}
	if a.authn == nil {
		var err error
		if cfg.ClientCAFile != "" {
			a.ca, err = dynamiccertificates.NewDynamicCAContentFromFile("client-ca", cfg.ClientCAFile)
		} else {
			a.ca, err = dynamiccertificates.NewDynamicCAFromConfigMapController("client-ca", clientCANamespace, clientCAConfigMap, clientCAKey, cfg.Client)
		}
		if err != nil {
			return nil, fmt.Errorf("kubeletapi: client CA: %w", err)
		}
		a.authn, _, err = authenticatorfactory.DelegatingAuthenticatorConfig{
			// No Anonymous: a request without credentials is refused with 401.
			TokenAccessReviewClient:            cfg.Client.AuthenticationV1(),
			TokenAccessReviewTimeout:           10 * time.Second,
			WebhookRetryBackoff:                backoff,
			CacheTTL:                           2 * time.Minute,
			ClientCertificateCAContentProvider: a.ca,
		}.New()
		if err != nil {
			return nil, fmt.Errorf("kubeletapi: authenticator: %w", err)
		}
	}
	if a.authz == nil {
		var err error
		a.authz, err = authorizerfactory.DelegatingAuthorizerConfig{
			SubjectAccessReviewClient: cfg.Client.AuthorizationV1(),
			AllowCacheTTL:             5 * time.Minute,
			DenyCacheTTL:              30 * time.Second,
			WebhookRetryBackoff:       backoff,
		}.New()
		if err != nil {
			return nil, fmt.Errorf("kubeletapi: authorizer: %w", err)
		}
	}
	return a, nil
}

// Start loads the client CA, failing if it cannot within a while, and keeps it current
// until ctx is done. It returns at once when a replacement Authenticator was configured.
func (a *Auth) Start(ctx context.Context) error {
	if a.ca == nil {
		return nil
	}
	if err := a.ca.RunOnce(ctx); err != nil {
		return fmt.Errorf("kubeletapi: loading client CA: %w", err)
	}
	go a.ca.Run(ctx, 1)
	// The ConfigMap source only has content once its informer has synced.
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, a.caTimeout, true, func(context.Context) (bool, error) {
		return len(a.ca.CurrentCABundleContent()) > 0, nil
	})
	if err != nil {
		return fmt.Errorf("kubeletapi: client CA %s not loaded (for the ConfigMap, the node needs the "+
			"extension-apiserver-authentication-reader role): %w", a.ca.Name(), err)
	}
	return nil
}

// Filter wraps next so that it only sees authenticated and authorized requests, like
// kubelet's auth filter: 401 without valid credentials, 403 when no attribute of the
// request is allowed, 500 when authorization itself fails.
func (a *Auth) Filter(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		logger := klog.FromContext(r.Context())
		resp, ok, err := a.authn.AuthenticateRequest(r)
		if err != nil || !ok {
			if err != nil {
				logger.V(2).Info("Unable to authenticate the request", "err", err)
			}
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		attrs := requestAttributes(a.nodeName, resp.User, r)
		subresources := make([]string, 0, len(attrs))
		for _, attr := range attrs {
			subresources = append(subresources, attr.GetSubresource())
			decision, _, err := a.authz.Authorize(r.Context(), attr)
			if err != nil {
				logger.Error(err, "Authorization error", "user", resp.User.GetName(), "verb", attr.GetVerb(), "subresource", attr.GetSubresource())
				http.Error(w, fmt.Sprintf("Authorization error (user=%s, verb=%s, resource=%s, subresource=%s)",
					resp.User.GetName(), attr.GetVerb(), attr.GetResource(), attr.GetSubresource()), http.StatusInternalServerError)
				return
			}
			if decision == authorizer.DecisionAllow {
				next.ServeHTTP(w, r)
				return
			}
		}
		logger.V(2).Info("Forbidden", "user", resp.User.GetName(), "verb", attrs[0].GetVerb(), "subresources", subresources)
		http.Error(w, fmt.Sprintf("Forbidden (user=%s, verb=%s, resource=%s, subresource(s)=%v)",
			resp.User.GetName(), attrs[0].GetVerb(), attrs[0].GetResource(), subresources), http.StatusForbidden)
	})
}

// requestAttributes returns the authorization attributes of a request, as kubelet builds
// them: access to nodes/<node> with the request's verb and, by path, a subresource.
// A request is allowed when any of them is; the finer subresources come first.
func requestAttributes(nodeName string, u user.Info, r *http.Request) []authorizer.Attributes {
	subs := subresources(r.URL.Path)
	attrs := make([]authorizer.Attributes, 0, len(subs))
	for _, sub := range subs {
		attrs = append(attrs, authorizer.AttributesRecord{
			User:            u,
			Verb:            verb(r.Method),
			APIVersion:      "v1",
			Resource:        "nodes",
			Subresource:     sub,
			Name:            nodeName,
			ResourceRequest: true,
			Path:            r.URL.Path,
		})
	}
	return attrs
}

// verb maps an HTTP method to the API verb it stands for.
func verb(method string) string {
	switch method {
	case http.MethodPost:
		return "create"
	case http.MethodGet:
		return "get"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		return "delete"
	}
	return ""
}

// subresources maps a kubelet path to the node subresources that grant it, as kubelet
// 1.37 does with KubeletFineGrainedAuthz (GA): pods, healthz and configz are tried before
// proxy, which grants everything not otherwise named. /spec is the subresource old
// kubelets used for machine info.
func subresources(path string) []string {
	switch {
	case isSubpath(path, "/pods"), isSubpath(path, "/runningpods"):
		return []string{"pods", "proxy"}
	case isSubpath(path, "/healthz"):
		return []string{"healthz", "proxy"}
	case isSubpath(path, "/configz"):
		return []string{"configz", "proxy"}
	case isSubpath(path, "/stats"):
		return []string{"stats"}
	case isSubpath(path, "/metrics"):
		return []string{"metrics"}
	case isSubpath(path, "/logs"):
		// "log", not "logs", to match the other log subresources (pods/log).
		return []string{"log"}
	case isSubpath(path, "/spec"):
		return []string{"spec"}
	case isSubpath(path, "/checkpoint"):
		return []string{"checkpoint"}
	case isSubpath(path, "/statusz"):
		return []string{"statusz"}
	case isSubpath(path, "/flagz"):
		return []string{"configz"}
	}
	return []string{"proxy"}
}

// isSubpath reports whether path is base or below it.
func isSubpath(path, base string) bool {
	return path == base || (strings.HasPrefix(path, base) && path[len(base)] == '/')
}
