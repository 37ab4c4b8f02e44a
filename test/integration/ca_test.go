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
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	securityv1alpha1 "istio.io/api/security/v1alpha1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
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
	clientset := kubernetes.NewForConfigOrDie(env.Config)
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "productpage", Namespace: ns}}
	if _, err := clientset.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tok, err := clientset.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa.Name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: []string{"istio-ca"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// The root, as the agent reads it from the ConfigMap mounted in the pod.
	var rootPEM string
	testutil.Eventually(t, 30*time.Second, func() error {
		cm, err := clientset.CoreV1().ConfigMaps(ns).Get(ctx, "istio-ca-root-cert", metav1.GetOptions{})
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
	defer conn.Close()

	identity := fmt.Sprintf("spiffe://cluster.local/ns/%s/sa/productpage", ns)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	uri, _ := url.Parse(identity)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: []*url.URL{uri}}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	callCtx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok.Status.Token)
	resp, err := securityv1alpha1.NewIstioCertificateServiceClient(conn).CreateCertificate(callCtx,
		&securityv1alpha1.IstioCertificateRequest{Csr: string(csr), ValidityDuration: 3600})
	if err != nil {
		t.Fatalf("CreateCertificate: %v", err)
	}
	block, _ := pem.Decode([]byte(resp.CertChain[0]))
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
	if ttl := leaf.NotAfter.Sub(time.Now()); ttl > time.Hour+time.Minute {
		t.Errorf("certificate lives %v, asked for 1h", ttl)
	}

	// Another identity than the token's is refused.
	other, _ := url.Parse(fmt.Sprintf("spiffe://cluster.local/ns/%s/sa/admin", ns))
	der, _ = x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: []*url.URL{other}}, key)
	if _, err := securityv1alpha1.NewIstioCertificateServiceClient(conn).CreateCertificate(callCtx,
		&securityv1alpha1.IstioCertificateRequest{Csr: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))}); err == nil {
		t.Error("a certificate for another service account was issued")
	}

	// xDS on the same port.
	c, err := adsclient.Dial(ctx, conn, &corev3.Node{Id: fmt.Sprintf("sidecar~10.1.0.7~productpage-1.%s~%s.svc.cluster.local", ns, ns)})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(ctx, func(st adsclient.State) bool { return st.Listeners["virtualInbound"] != nil }); err != nil {
		t.Fatalf("no xDS config over the secure port: %v", err)
	}
}
