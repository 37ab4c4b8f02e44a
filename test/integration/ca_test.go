package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	securityv1alpha1 "istio.io/api/security/v1alpha1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshd-io/meshd/internal/testutil"
	"github.com/meshd-io/meshd/internal/testutil/adsclient"
)

// TestCAIssuesWorkloadCertificates: what an injected sidecar's agent does against meshd's
// secure port. It trusts the root meshd publishes in its namespace (istio-ca-root-cert),
// asks for a certificate with its service-account token (audience istio-ca), gets a
// SPIFFE certificate for exactly its identity that chains to that root, and then reads
// its xDS config over the same TLS port.
func TestCAIssuesWorkloadCertificates(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ns := newNamespace(t)
	conn, roots := secureConn(t, ns)
	identity := fmt.Sprintf("spiffe://cluster.local/ns/%s/sa/productpage", ns)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	callCtx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+serviceAccountToken(t, ns, "productpage"))
	chain, err := requestCert(callCtx, conn, key, identity, 3600)
	if err != nil {
		t.Fatalf("CreateCertificate: %v", err)
	}
	block, _ := pem.Decode([]byte(chain[0]))
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != identity {
		t.Errorf("certificate identities %v, want %s", leaf.URIs, identity)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("the certificate does not chain to the published root: %v", err)
	}
	if ttl := time.Until(leaf.NotAfter); ttl > time.Hour+time.Minute {
		t.Errorf("certificate lives %v, asked for 1h", ttl)
	}

	// Another identity than the token's is refused.
	if _, err := requestCert(callCtx, conn, key, fmt.Sprintf("spiffe://cluster.local/ns/%s/sa/admin", ns), 0); err == nil {
		t.Error("a certificate for another service account was issued")
	}

	// xDS on the same port, for callers who say who they are.
	node := &corev3.Node{Id: fmt.Sprintf("sidecar~10.1.0.7~productpage-1.%s~%s.svc.cluster.local", ns, ns)}
	anonymous, err := adsclient.Dial(ctx, conn, node)
	if err == nil {
		// The stream ends with the server's refusal (Wait never sees its condition hold).
		if err := anonymous.Wait(ctx, func(adsclient.State) bool { return false }); !strings.Contains(fmt.Sprint(err), "Unauthenticated") {
			t.Errorf("an xDS stream without token or certificate was not refused as Unauthenticated: %v", err)
		}
	}
	c, err := adsclient.Dial(callCtx, conn, node)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(ctx, func(st adsclient.State) bool { return st.Listeners["virtualInbound"] != nil }); err != nil {
		t.Fatalf("no xDS config over the secure port: %v", err)
	}
}

// secureConn dials meshd's secure port trusting the root published in ns, as an agent
// trusts the istio-ca-root-cert ConfigMap mounted in its pod.
func secureConn(t *testing.T, ns string) (*grpc.ClientConn, *x509.CertPool) {
	t.Helper()
	clientset := kubernetes.NewForConfigOrDie(env.Config)
	var rootPEM string
	testutil.Eventually(t, 30*time.Second, func() error {
		cm, err := clientset.CoreV1().ConfigMaps(ns).Get(context.Background(), "istio-ca-root-cert", metav1.GetOptions{})
		if err != nil {
			return err
		}
		rootPEM = cm.Data["root-cert.pem"]
		return nil
	})
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(rootPEM)) {
		t.Fatalf("istio-ca-root-cert holds no certificate: %q", rootPEM)
	}
	conn, err := grpc.NewClient(env.SecureXDSAddr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		RootCAs: roots, ServerName: "meshd-xds.istio-system.svc", MinVersion: tls.VersionTLS12,
	})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, roots
}

// serviceAccountToken creates a service account (if needed) and a token for it with
// the CA's audience, as the kubelet projects into a pod for Istio's agent.
func serviceAccountToken(t *testing.T, ns, name string) string {
	t.Helper()
	ctx := context.Background()
	clientset := kubernetes.NewForConfigOrDie(env.Config)
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if _, err := clientset.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	tok, err := clientset.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: []string{"istio-ca"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Status.Token
}

// requestCert sends a CSR for identity to meshd's CA.
func requestCert(ctx context.Context, conn *grpc.ClientConn, key *ecdsa.PrivateKey, identity string, ttlSeconds int64) ([]string, error) {
	uri, err := url.Parse(identity)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: []*url.URL{uri}}, key)
	if err != nil {
		return nil, err
	}
	resp, err := securityv1alpha1.NewIstioCertificateServiceClient(conn).CreateCertificate(ctx, &securityv1alpha1.IstioCertificateRequest{
		Csr: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), ValidityDuration: ttlSeconds})
	if err != nil {
		return nil, err
	}
	return resp.CertChain, nil
}

// meshCertProviders gets ns/sa a mesh certificate from meshd's CA, as Istio's agent
// does, writes it to files and returns the bootstrap certificate_providers for grpc-go
// (Istio's proxyless bootstrap names the instance "default").
func meshCertProviders(t *testing.T, ns, sa string) map[string]any {
	t.Helper()
	conn, _ := secureConn(t, ns)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+serviceAccountToken(t, ns, sa))
	chain, err := requestCert(ctx, conn, key, fmt.Sprintf("spiffe://cluster.local/ns/%s/sa/%s", ns, sa), 0)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string]string{
		"cert-chain.pem": strings.Join(chain[:len(chain)-1], ""),
		"key.pem":        string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})),
		"root-cert.pem":  chain[len(chain)-1],
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return map[string]any{"default": map[string]any{"plugin_name": "file_watcher", "config": map[string]any{
		"certificate_file":    filepath.Join(dir, "cert-chain.pem"),
		"private_key_file":    filepath.Join(dir, "key.pem"),
		"ca_certificate_file": filepath.Join(dir, "root-cert.pem"),
		"refresh_interval":    "600s",
	}}}
}
