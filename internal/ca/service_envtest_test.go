package ca

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	securityv1alpha1 "istio.io/api/security/v1alpha1"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/meshd-io/meshd/internal/testutil"
)

// TestServiceTokenReview runs the CA as the agent meets it: gRPC over TLS with a
// serving certificate from the CA, the caller proving its service account with a real
// token from the TokenRequest API, checked with the TokenReview API.
func TestServiceTokenReview(t *testing.T) {
	c, cs := newClients(t)
	ctx := context.Background()
	caNS, ns := newNamespace(t, c), newNamespace(t, c)
	a, err := LoadOrCreate(ctx, c, caNS, Options{WorkloadTTL: 12 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}

	// The CA on a loopback TLS listener, as on :15012.
	const serverName = "meshd-xds.istio-system.svc"
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{
		GetCertificate: a.GetServingCertificate([]string{serverName}),
		MinVersion:     tls.VersionTLS12,
	})))
	NewService(a, TokenReviewAuthenticator{Client: cs}, testr.New(t)).Register(srv)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	// The agent trusts the root it reads from istio-ca-root-cert, nothing else.
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(a.RootPEM())
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		RootCAs: roots, ServerName: serverName, MinVersion: tls.VersionTLS12,
	})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	caClient := securityv1alpha1.NewIstioCertificateServiceClient(conn)

	token := func(sa string, audiences ...string) string {
		t.Helper()
		_, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{})
		if err != nil && !isAlreadyExists(err) {
			t.Fatal(err)
		}
		tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authnv1.TokenRequest{
			Spec: authnv1.TokenRequestSpec{Audiences: audiences},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("TokenRequest for %s: %v", sa, err)
		}
		return tr.Status.Token
	}
	appToken := token("productpage", DefaultAudience)
	otherToken := token("ratings", DefaultAudience)
	wrongAudience := token("productpage", "https://kubernetes.default.svc")
	appID := a.Identity(ns, "productpage")

	call := func(token, csrID string, validity int64) (*securityv1alpha1.IstioCertificateResponse, error) {
		t.Helper()
		cctx := ctx
		if token != "" {
			cctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
		}
		var csr []byte
		if csrID == "" {
			csr = newCSR(t)
		} else {
			csr = newCSR(t, csrID)
		}
		return caClient.CreateCertificate(cctx, &securityv1alpha1.IstioCertificateRequest{Csr: string(csr), ValidityDuration: validity})
	}

	t.Run("signs for the token's service account", func(t *testing.T) {
		resp, err := call(appToken, appID, 3600)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		leaf := verifyChain(t, a, resp.GetCertChain(), now)
		if len(leaf.URIs) != 1 || leaf.URIs[0].String() != appID {
			t.Errorf("URI SAN = %v, want %s", leaf.URIs, appID)
		}
		if life := time.Until(leaf.NotAfter); life > time.Hour || life < 55*time.Minute {
			t.Errorf("requested 1h, got a certificate valid for %s more", life)
		}
	})
	t.Run("a CSR without SANs gets the caller's identity", func(t *testing.T) {
		resp, err := call(otherToken, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		leaf := verifyChain(t, a, resp.GetCertChain(), time.Now())
		if want := a.Identity(ns, "ratings"); leaf.URIs[0].String() != want {
			t.Errorf("URI SAN = %v, want %s", leaf.URIs, want)
		}
		if life := time.Until(leaf.NotAfter); life > 12*time.Hour || life < 11*time.Hour {
			t.Errorf("default lifetime: %s, want WorkloadTTL (12h)", life)
		}
	})
	for _, tc := range []struct {
		name, token, csrID string
		want               codes.Code
		msg                string // what the refusal must say, so it fails for the right reason
	}{
		{"no token", "", appID, codes.Unauthenticated, "authorization header"},
		{"another service account's token", otherToken, appID, codes.PermissionDenied, "sa/ratings"},
		{"garbage token", "not.a.jwt", appID, codes.Unauthenticated, "invalid bearer token"},
		{"token for another audience", wrongAudience, appID, codes.Unauthenticated, "audiences"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := call(tc.token, tc.csrID, 0)
			if got := status.Code(err); got != tc.want {
				t.Fatalf("code = %s (%v), want %s", got, err, tc.want)
			}
			if !strings.Contains(status.Convert(err).Message(), tc.msg) {
				t.Errorf("refusal %q does not mention %q", status.Convert(err).Message(), tc.msg)
			}
		})
	}
	t.Run("token of a deleted service account", func(t *testing.T) {
		tok := token("deleted", DefaultAudience)
		if err := cs.CoreV1().ServiceAccounts(ns).Delete(ctx, "deleted", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		// The API server looks service accounts up through its informers: the deletion
		// takes effect within moments, not at once.
		testutil.Eventually(t, 10*time.Second, func() error {
			_, err := call(tok, a.Identity(ns, "deleted"), 0)
			if got := status.Code(err); got != codes.Unauthenticated {
				return fmt.Errorf("code = %s (%v), want Unauthenticated", got, err)
			}
			return nil
		})
	})
}

// TestTokenReviewAuthenticatorAudiences checks a custom audience list with the real
// API server.
func TestTokenReviewAuthenticatorAudiences(t *testing.T) {
	c, cs := newClients(t)
	ctx := context.Background()
	ns := newNamespace(t, c)
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "sa"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "sa", &authnv1.TokenRequest{
		Spec: authnv1.TokenRequestSpec{Audiences: []string{"meshd"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	withToken := metadata.NewIncomingContext(ctx, metadata.Pairs("authorization", "Bearer "+tr.Status.Token))
	var auth Authenticator = TokenReviewAuthenticator{Client: cs, Audiences: []string{"istio-ca", "meshd"}}
	caller, err := auth.Authenticate(withToken)
	if err != nil {
		t.Fatal(err)
	}
	if caller != (Caller{Namespace: ns, ServiceAccount: "sa"}) {
		t.Errorf("caller = %+v", caller)
	}
	// The default audience (istio-ca) does not accept it.
	if _, err := (TokenReviewAuthenticator{Client: cs}).Authenticate(withToken); status.Code(err) != codes.Unauthenticated {
		t.Errorf("default audience: %v, want Unauthenticated", err)
	}
	// An unreachable API server is Unavailable (the agent retries), not a verdict.
	down, err := kubernetes.NewForConfig(unreachable(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (TokenReviewAuthenticator{Client: down}).Authenticate(withToken); status.Code(err) != codes.Unavailable {
		t.Errorf("API server down: %v, want Unavailable", err)
	}
}

func isAlreadyExists(err error) bool { return apierrors.IsAlreadyExists(err) }

// unreachable is a config for an API server that is not there.
func unreachable(t *testing.T) *rest.Config {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close() // nothing listens there any more
	return &rest.Config{Host: "https://" + addr, Timeout: 5 * time.Second}
}
