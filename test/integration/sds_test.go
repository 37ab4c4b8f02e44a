package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/meshd-io/meshd/internal/testutil/adsclient"
)

// TestSDSServesEachProxyItsOwnSecrets: a proxy on the secure port that proved its
// identity reads `default` (its own certificate and key) and `ROOTCA` over ADS; a
// second proxy of the same identity shares the certificate; the certificate alone (no
// token) then authenticates a stream as that identity. A proxy claiming another
// namespace, asking for a secret that is not its own, or asking on the plaintext port
// is refused.
func TestSDSServesEachProxyItsOwnSecrets(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ns := newNamespace(t)
	conn, roots := secureConn(t, ns)
	identity := fmt.Sprintf("spiffe://cluster.local/ns/%s/sa/ratings", ns)
	tokenCtx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+serviceAccountToken(t, ns, "ratings"))
	node := func(pod, nodeNS string) *corev3.Node {
		return &corev3.Node{Id: fmt.Sprintf("sidecar~10.1.0.9~%s.%s~%s.svc.cluster.local", pod, nodeNS, nodeNS)}
	}
	secretsOf := func(c *adsclient.Client) (*tlsv3.Secret, *tlsv3.Secret) {
		t.Helper()
		if err := c.Subscribe(resourcev3.SecretType, []string{"default", "ROOTCA"}); err != nil {
			t.Fatal(err)
		}
		if err := c.Wait(ctx, func(st adsclient.State) bool { return len(st.Secrets) == 2 }); err != nil {
			t.Fatalf("no secrets: %v", err)
		}
		st := c.Snapshot()
		return st.Secrets["default"], st.Secrets["ROOTCA"]
	}

	first, err := adsclient.Dial(tokenCtx, conn, node("ratings-1", ns))
	if err != nil {
		t.Fatal(err)
	}
	workload, rootCA := secretsOf(first)
	chainPEM := workload.GetTlsCertificate().GetCertificateChain().GetInlineBytes()
	keyPair, err := tls.X509KeyPair(chainPEM, workload.GetTlsCertificate().GetPrivateKey().GetInlineBytes())
	if err != nil {
		t.Fatalf("the key does not match the certificate: %v", err)
	}
	leaf, err := x509.ParseCertificate(keyPair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != identity {
		t.Errorf("SDS certificate identities %v, want only %s", leaf.URIs, identity)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("the SDS certificate does not chain to the published root: %v", err)
	}
	block, _ := pem.Decode(rootCA.GetValidationContext().GetTrustedCa().GetInlineBytes())
	if block == nil {
		t.Fatal("ROOTCA holds no certificate")
	}
	if root, err := x509.ParseCertificate(block.Bytes); err != nil || !roots.Equal(poolOf(root)) {
		t.Errorf("ROOTCA is not the published root (%v)", err)
	}

	// Another proxy of the same identity gets the same certificate: one per identity.
	second, err := adsclient.Dial(tokenCtx, conn, node("ratings-2", ns))
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := secretsOf(second); string(again.GetTlsCertificate().GetCertificateChain().GetInlineBytes()) != string(chainPEM) {
		t.Error("a second proxy of the same identity got another certificate")
	}

	refused := func(what string, c *adsclient.Client, dialErr error, wantCode string) {
		t.Helper()
		if dialErr == nil {
			dialErr = c.Wait(ctx, func(adsclient.State) bool { return false })
		}
		if !strings.Contains(fmt.Sprint(dialErr), wantCode) {
			t.Errorf("%s: want the stream refused with %s, got %v", what, wantCode, dialErr)
		}
	}
	// A node claiming another namespace than its token's.
	other := newNamespace(t)
	spoof, err := adsclient.Dial(tokenCtx, conn, node("ratings-3", other))
	refused("a node claiming another namespace", spoof, err, "PermissionDenied")

	// A secret that is not the proxy's own.
	greedy, err := adsclient.Dial(tokenCtx, conn, node("ratings-4", ns))
	if err != nil {
		t.Fatal(err)
	}
	if err := greedy.Subscribe(resourcev3.SecretType, []string{fmt.Sprintf("spiffe://cluster.local/ns/%s/sa/admin", ns)}); err != nil {
		t.Fatal(err)
	}
	refused("a request for another identity's secret", greedy, nil, "PermissionDenied")

	// The plaintext port never serves secrets.
	plain, err := grpc.NewClient(env.XDSAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	anonymous, err := adsclient.Dial(ctx, plain, node("ratings-5", ns))
	if err != nil {
		t.Fatal(err)
	}
	if err := anonymous.Subscribe(resourcev3.SecretType, []string{"default"}); err != nil {
		t.Fatal(err)
	}
	refused("a secret request on the plaintext port", anonymous, nil, "PermissionDenied")

	// The SDS certificate is a mesh certificate: presented in the handshake, it
	// authenticates a stream as its identity, with no token.
	mtls, err := grpc.NewClient(env.SecureXDSAddr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		RootCAs: roots, ServerName: "meshd-xds.istio-system.svc", MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{keyPair},
	})))
	if err != nil {
		t.Fatal(err)
	}
	defer mtls.Close()
	byCert, err := adsclient.Dial(ctx, mtls, node("ratings-6", ns))
	if err != nil {
		t.Fatal(err)
	}
	if viaCert, _ := secretsOf(byCert); string(viaCert.GetTlsCertificate().GetCertificateChain().GetInlineBytes()) != string(chainPEM) {
		t.Error("a stream authenticated by the identity's certificate got another identity's certificate")
	}
	certSpoof, err := adsclient.Dial(ctx, mtls, node("ratings-7", other))
	refused("a certificate-authenticated node claiming another namespace", certSpoof, err, "PermissionDenied")
}

func poolOf(c *x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c)
	return p
}
