package ca

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	securityv1alpha1 "istio.io/api/security/v1alpha1"
)

// staticAuth authenticates every request as one caller, or fails with err.
type staticAuth struct {
	caller Caller
	err    error
}

func (s staticAuth) Authenticate(context.Context) (Caller, error) { return s.caller, s.err }

func TestServiceCreateCertificate(t *testing.T) {
	a := selfSigned(t, Options{Clock: fixedClock, WorkloadTTL: 12 * time.Hour})
	svc := NewService(a, staticAuth{caller: Caller{Namespace: "shop", ServiceAccount: "cart"}}, logr.Discard())
	id := "spiffe://cluster.local/ns/shop/sa/cart"
	ctx := context.Background()

	for _, tc := range []struct {
		name     string
		validity int64
		want     time.Duration
	}{
		{"default", 0, 12 * time.Hour},
		{"shorter honoured", 3600, time.Hour},
		{"longer capped", 7 * 24 * 3600, 12 * time.Hour},
		{"overflowing capped", 1 << 62, 12 * time.Hour},
		{"negative ignored", -5, 12 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := svc.CreateCertificate(ctx, &securityv1alpha1.IstioCertificateRequest{
				Csr: string(newCSR(t, id)), ValidityDuration: tc.validity,
			})
			if err != nil {
				t.Fatal(err)
			}
			leaf := verifyChain(t, a, resp.GetCertChain(), fixedNow)
			if leaf.URIs[0].String() != id {
				t.Errorf("URI SAN = %v", leaf.URIs)
			}
			if got := leaf.NotAfter.Sub(fixedNow); got != tc.want {
				t.Errorf("lifetime = %s, want %s", got, tc.want)
			}
		})
	}

	for _, tc := range []struct {
		name string
		svc  *Service
		csr  string
		want codes.Code
	}{
		{"other identity", svc, string(newCSR(t, "spiffe://cluster.local/ns/shop/sa/admin")), codes.PermissionDenied},
		{"bad CSR", svc, "not a CSR", codes.InvalidArgument},
		{"not authenticated", NewService(a, staticAuth{err: status.Error(codes.Unauthenticated, "no")}, logr.Discard()), string(newCSR(t, id)), codes.Unauthenticated},
		{"plain authenticator error", NewService(a, staticAuth{err: errors.New("no")}, logr.Discard()), string(newCSR(t, id)), codes.Unauthenticated},
		{"review unavailable", NewService(a, staticAuth{err: status.Error(codes.Unavailable, "down")}, logr.Discard()), string(newCSR(t, id)), codes.Unavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.svc.CreateCertificate(ctx, &securityv1alpha1.IstioCertificateRequest{Csr: tc.csr})
			if got := status.Code(err); got != tc.want {
				t.Fatalf("code = %s (%v), want %s", got, err, tc.want)
			}
		})
	}
}

func TestBearerToken(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []string
		want   string
	}{
		{"bearer", []string{"Bearer abc.def"}, "abc.def"},
		{"lower-case scheme", []string{"bearer abc"}, "abc"},
		{"none", nil, ""},
		{"two headers", []string{"Bearer a", "Bearer b"}, ""},
		{"basic", []string{"Basic dXNlcjpwYXNz"}, ""},
		{"scheme only", []string{"Bearer "}, ""},
		{"no scheme", []string{"abc"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md := metadata.MD{}
			for _, v := range tc.values {
				md.Append("authorization", v)
			}
			got, err := bearerToken(metadata.NewIncomingContext(context.Background(), md))
			if tc.want == "" {
				if status.Code(err) != codes.Unauthenticated {
					t.Fatalf("token %q, err %v: want Unauthenticated", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if _, err := bearerToken(context.Background()); status.Code(err) != codes.Unauthenticated {
		t.Errorf("no metadata: %v", err)
	}
}

func TestSplitServiceAccount(t *testing.T) {
	for user, want := range map[string][2]string{
		"system:serviceaccount:shop:cart": {"shop", "cart"},
		"system:serviceaccount:shop":      {},
		"system:serviceaccount::cart":     {},
		"system:serviceaccount:a:b:c":     {},
		"kubernetes-admin":                {},
		"system:node:worker-1":            {},
	} {
		ns, sa, ok := splitServiceAccount(user)
		if ok != (want[0] != "") || ns != want[0] || sa != want[1] {
			t.Errorf("%q: got %q %q %v, want %q", user, ns, sa, ok, want)
		}
	}
}
