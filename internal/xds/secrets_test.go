package xds

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/go-logr/logr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meshd-io/meshd/internal/ca"
	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/testutil/adsclient"
)

// mtlsServer serves s on loopback over mutual TLS with certificates of a real CA,
// identifying streams by their client certificate, as the secure port does.
func mtlsServer(t *testing.T, s *Server, authority *ca.Authority) string {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(authority.Root())
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: roots,
		GetCertificate: authority.GetServingCertificate([]string{"localhost"})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	identify := func(ctx context.Context) (Identity, error) {
		p, _ := peer.FromContext(ctx)
		state := p.AuthInfo.(credentials.TLSInfo).State
		if id, ok := CertificateIdentity(state.VerifiedChains[0][0], authority.TrustDomain()); ok {
			return id, nil
		}
		return Identity{}, status.Error(codes.Unauthenticated, "no SPIFFE ID")
	}
	go func() {
		_ = s.ServeWith(ctx, l, ServeOptions{GRPC: []grpc.ServerOption{grpc.Creds(credentials.NewTLS(cfg))}, Identify: identify})
	}()
	return l.Addr().String()
}

// dialAs connects with a fresh certificate of identity.
func dialAs(t *testing.T, addr string, authority *ca.Authority, identity string) *grpc.ClientConn {
	t.Helper()
	kp, err := authority.IssueWorkload(identity)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(kp.ChainPEM, kp.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(authority.Root())
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		MinVersion: tls.VersionTLS12, RootCAs: roots, ServerName: "localhost", Certificates: []tls.Certificate{cert}})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func sidecarNode(pod, ns string, metadata map[string]any) *corev3.Node {
	md, _ := structpb.NewStruct(metadata)
	return &corev3.Node{Id: "sidecar~10.0.0.1~" + pod + "." + ns + "~" + ns + ".svc.cluster.local", Metadata: md}
}

func leafOf(t *testing.T, s *tlsv3.Secret) *x509.Certificate {
	t.Helper()
	c, err := tls.X509KeyPair(s.GetTlsCertificate().GetCertificateChain().GetInlineBytes(), s.GetTlsCertificate().GetPrivateKey().GetInlineBytes())
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

// TestSecretsPerIdentityRenewed: each identity reads only its own certificate, which is
// pushed anew at half its life; a proxy cannot pass itself off as another identity
// through node metadata.
func TestSecretsPerIdentityRenewed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	authority, err := ca.NewEphemeral(ca.Options{WorkloadTTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(logr.Discard())
	s.SetSecretIssuer(authority)
	s.Update(&ir.IR{})
	addr := mtlsServer(t, s, authority)

	const reviews, ratings = "spiffe://cluster.local/ns/shop/sa/reviews", "spiffe://cluster.local/ns/shop/sa/ratings"
	subscribe := func(identity string, node *corev3.Node) *adsclient.Client {
		t.Helper()
		c, err := adsclient.Dial(ctx, dialAs(t, addr, authority, identity), node)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Subscribe(resourcev3.SecretType, []string{SecretWorkload, SecretRootCA}); err != nil {
			t.Fatal(err)
		}
		if err := c.Wait(ctx, func(st adsclient.State) bool { return len(st.Secrets) == 2 }); err != nil {
			t.Fatalf("%s: %v", identity, err)
		}
		return c
	}
	// The ratings proxy claims, in its metadata, to be reviews: the server's own finding
	// replaces the claim.
	r := subscribe(reviews, sidecarNode("reviews-1", "shop", nil))
	spoof := subscribe(ratings, sidecarNode("ratings-1", "shop", map[string]any{identityMetadataKey: reviews}))
	first := leafOf(t, r.Snapshot().Secrets[SecretWorkload])
	if got := first.URIs[0].String(); got != reviews {
		t.Errorf("reviews got a certificate for %s", got)
	}
	if got := leafOf(t, spoof.Snapshot().Secrets[SecretWorkload]).URIs[0].String(); got != ratings {
		t.Errorf("ratings, claiming to be reviews in its metadata, got a certificate for %s", got)
	}

	// Renewal: a 2 s certificate is replaced at half its life, without a request.
	if err := r.Wait(ctx, func(st adsclient.State) bool {
		return leafOf(t, st.Secrets[SecretWorkload]).SerialNumber.Cmp(first.SerialNumber) != 0
	}); err != nil {
		t.Fatalf("the certificate was not renewed: %v", err)
	}
	renewed := leafOf(t, r.Snapshot().Secrets[SecretWorkload])
	if renewed.URIs[0].String() != reviews || !renewed.NotAfter.After(first.NotAfter) {
		t.Errorf("renewed certificate %v valid until %v, first until %v", renewed.URIs, renewed.NotAfter, first.NotAfter)
	}
}

// TestSecretsRefusedWithoutIdentity: a port that authenticates nobody serves no secret,
// whatever the node's metadata claims.
func TestSecretsRefusedWithoutIdentity(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	authority, err := ca.NewEphemeral(ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(logr.Discard())
	s.SetSecretIssuer(authority)
	s.Update(&ir.IR{})
	c, err := adsclient.Dial(ctx, serve(t, s), sidecarNode("reviews-1", "shop", map[string]any{identityMetadataKey: "spiffe://cluster.local/ns/shop/sa/reviews"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe(resourcev3.SecretType, []string{SecretWorkload}); err != nil {
		t.Fatal(err)
	}
	err = c.Wait(ctx, func(adsclient.State) bool { return false })
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "secure port") {
		t.Errorf("want PermissionDenied naming the secure port, got %v", err)
	}
}
