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
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

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

// TestSDSServesGatewayCertificates: a gateway proxy, authenticated in its Gateway's
// namespace, reads the certificate its HTTPS listener names (kubernetes://ns/name) and
// gets the renewed one when the Secret changes; a Secret no Gateway of its namespace
// uses is refused.
func TestSDSServesGatewayCertificates(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ns := newNamespace(t)
	for _, name := range []string{"shop-cert", "unrelated"} {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Data: map[string][]byte{"tls.crt": []byte(name + "-cert-v1"), "tls.key": []byte(name + "-key-v1")}}
		if err := env.Client.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	gw := gatewayOf(ns, "web", false, gatewayv1.Listener{Name: "https", Port: 443, Protocol: gatewayv1.HTTPSProtocolType,
		TLS: &gatewayv1.ListenerTLSConfig{CertificateRefs: []gatewayv1.SecretObjectReference{{Name: "shop-cert"}}}})
	if err := env.Client.Create(ctx, gw); err != nil {
		t.Fatal(err)
	}
	gatewayCondition(t, ns, "web", "Accepted", metav1.ConditionTrue, "Accepted")

	conn, _ := secureConn(t, ns)
	tokenCtx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+serviceAccountToken(t, ns, "web-istio"))
	routerNode := func(pod string) *corev3.Node {
		labels, _ := structpb.NewStruct(map[string]any{"gateway.networking.k8s.io/gateway-name": "web"})
		return &corev3.Node{Id: fmt.Sprintf("router~10.1.0.9~%s.%s~%s.svc.cluster.local", pod, ns, ns),
			Metadata: &structpb.Struct{Fields: map[string]*structpb.Value{"LABELS": structpb.NewStructValue(labels)}}}
	}
	proxy, err := adsclient.Dial(tokenCtx, conn, routerNode("web-istio-1"))
	if err != nil {
		t.Fatal(err)
	}
	name := "kubernetes://" + ns + "/shop-cert"
	if err := proxy.Subscribe(resourcev3.SecretType, []string{name}); err != nil {
		t.Fatal(err)
	}
	chain := func(want string) func(adsclient.State) bool {
		return func(st adsclient.State) bool {
			return string(st.Secrets[name].GetTlsCertificate().GetCertificateChain().GetInlineBytes()) == want
		}
	}
	if err := proxy.Wait(ctx, chain("shop-cert-cert-v1")); err != nil {
		t.Fatalf("no gateway certificate: %v", err)
	}

	// A renewal (as cert-manager writes it) reaches the proxy.
	s := &corev1.Secret{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "shop-cert"}, s); err != nil {
		t.Fatal(err)
	}
	s.Data["tls.crt"], s.Data["tls.key"] = []byte("shop-cert-cert-v2"), []byte("shop-cert-key-v2")
	if err := env.Client.Update(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := proxy.Wait(ctx, chain("shop-cert-cert-v2")); err != nil {
		t.Fatalf("the renewed certificate did not reach the proxy: %v", err)
	}

	greedy, err := adsclient.Dial(tokenCtx, conn, routerNode("web-istio-2"))
	if err != nil {
		t.Fatal(err)
	}
	if err := greedy.Subscribe(resourcev3.SecretType, []string{"kubernetes://" + ns + "/unrelated"}); err != nil {
		t.Fatal(err)
	}
	if err := greedy.Wait(ctx, func(adsclient.State) bool { return false }); status.Code(err) != codes.PermissionDenied {
		t.Errorf("a Secret no Gateway uses: want PermissionDenied, got %v", err)
	}
}
