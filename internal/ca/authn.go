package ca

import (
	"context"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create

// DefaultAudience is the audience of the projected token Istio's injector mounts for
// the agent (istio-token) and the one istiod checks.
const DefaultAudience = "istio-ca"

// Caller is who a certificate request comes from: a Kubernetes service account.
type Caller struct {
	Namespace      string
	ServiceAccount string
}

// Authenticator establishes who sent a CreateCertificate request from its gRPC
// context. Errors should be gRPC status errors (Unauthenticated when the credential is
// missing or wrong, Unavailable when the check itself could not run); other errors are
// reported as Unauthenticated.
type Authenticator interface {
	Authenticate(ctx context.Context) (Caller, error)
}

// TokenReviewAuthenticator authenticates the Kubernetes service-account token Istio's
// agent sends as "authorization: Bearer <token>" by asking the API server (TokenReview),
// as istiod does: the API server checks signature, expiry, audience and that the pod
// and service account the token is bound to still exist.
type TokenReviewAuthenticator struct {
	Client kubernetes.Interface
	// Audiences the token must be issued for; [DefaultAudience] when empty.
	Audiences []string
}

// Authenticate implements Authenticator.
func (t TokenReviewAuthenticator) Authenticate(ctx context.Context) (Caller, error) {
	token, err := bearerToken(ctx)
	if err != nil {
		return Caller{}, err
	}
	audiences := t.Audiences
	if len(audiences) == 0 {
		audiences = []string{DefaultAudience}
	}
	review, err := t.Client.AuthenticationV1().TokenReviews().Create(ctx, &authnv1.TokenReview{
		Spec: authnv1.TokenReviewSpec{Token: token, Audiences: audiences},
	}, metav1.CreateOptions{})
	if err != nil {
		// Not the caller's fault: the agent retries on Unavailable.
		return Caller{}, status.Errorf(codes.Unavailable, "token review failed: %v", err)
	}
	st := review.Status
	if !st.Authenticated || st.Error != "" {
		return Caller{}, status.Errorf(codes.Unauthenticated, "token not authenticated: %s", st.Error)
	}
	// An audience-aware authenticator answers with the audiences the token matched;
	// insist on one of ours so a token minted for another service never works here.
	if len(st.Audiences) > 0 && !slices.ContainsFunc(st.Audiences, func(a string) bool { return slices.Contains(audiences, a) }) {
		return Caller{}, status.Errorf(codes.Unauthenticated, "token audiences %v do not include %v", st.Audiences, audiences)
	}
	ns, sa, ok := splitServiceAccount(st.User.Username)
	if !ok {
		return Caller{}, status.Errorf(codes.Unauthenticated, "%q is not a service account", st.User.Username)
	}
	return Caller{Namespace: ns, ServiceAccount: sa}, nil
}

// bearerToken reads the one "authorization: Bearer <token>" header of the request.
func bearerToken(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	values := md.Get("authorization")
	if len(values) != 1 {
		return "", status.Errorf(codes.Unauthenticated, "want one authorization header, got %d", len(values))
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	// The auth scheme is case-insensitive (RFC 9110).
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", status.Error(codes.Unauthenticated, "the authorization header is not a bearer token")
	}
	return strings.TrimSpace(token), nil
}

// splitServiceAccount parses the API server's username for service accounts,
// system:serviceaccount:<namespace>:<name>.
func splitServiceAccount(username string) (namespace, name string, ok bool) {
	rest, ok := strings.CutPrefix(username, "system:serviceaccount:")
	if !ok {
		return "", "", false
	}
	namespace, name, ok = strings.Cut(rest, ":")
	if !ok || namespace == "" || name == "" || strings.Contains(name, ":") {
		return "", "", false
	}
	return namespace, name, true
}
