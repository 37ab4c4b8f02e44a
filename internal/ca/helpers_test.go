package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/url"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

// fixedClock is the moment unit tests sign at.
var fixedNow = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return fixedNow }

// selfSigned builds an authority the way LoadOrCreate does on first start, without an
// API server.
func selfSigned(t *testing.T, opts Options) *Authority {
	t.Helper()
	a, err := NewEphemeral(opts)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// pluggedInSecret makes an operator's `cacerts`: a root and an intermediate it signed,
// laid out as Istio's docs (and its tools/certs Makefile) produce them.
func pluggedInSecret(t *testing.T, namespace string, rootTTL time.Duration) (*corev1.Secret, *x509.Certificate) {
	t.Helper()
	rootKey, root := newCA(t, "Root CA", rootTTL, nil, nil)
	intKey, intermediate := newCA(t, "Intermediate CA", rootTTL/2, root, rootKey)
	rootPEM, _ := certutil.EncodeCertificates(root)
	intPEM, _ := certutil.EncodeCertificates(intermediate)
	keyPEM, err := keyutil.MarshalPrivateKeyToPEM(intKey)
	if err != nil {
		t.Fatal(err)
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: PluggedInSecret, Namespace: namespace},
		Data: map[string][]byte{
			CACertKey:    intPEM,
			CAKeyKey:     keyPEM,
			RootCertKey:  rootPEM,
			CertChainKey: append(append([]byte{}, intPEM...), rootPEM...),
		},
	}, root
}

// newCA makes a CA certificate, self-signed when parent is nil.
func newCA(t *testing.T, cn string, ttl time.Duration, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"example"}},
		NotBefore:             fixedNow.Add(-time.Hour),
		NotAfter:              fixedNow.Add(ttl),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, c
}

// newCSR is what Istio's agent sends: a fresh P-256 key and a CSR whose URI SAN is the
// identity it expects (none when uris is empty).
func newCSR(t *testing.T, uris ...string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.CertificateRequest{}
	for _, u := range uris {
		parsed, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, parsed)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// verifyChain parses [leaf, intermediates..., root] and verifies the leaf against the
// authority's roots for both client and server use, as the two ends of an mTLS
// connection do.
func verifyChain(t *testing.T, a *Authority, chain []string, at time.Time) *x509.Certificate {
	t.Helper()
	if len(chain) < 2 {
		t.Fatalf("chain has %d elements, want leaf and root at least", len(chain))
	}
	if chain[len(chain)-1] != string(a.RootPEM()) {
		t.Fatalf("last element of the chain is not the root")
	}
	certs := make([][]*x509.Certificate, len(chain))
	for i, p := range chain {
		c, err := certutil.ParseCertsPEM([]byte(p))
		if err != nil {
			t.Fatalf("chain[%d]: %v", i, err)
		}
		certs[i] = c
	}
	leaf := certs[0][0]
	roots, intermediates := x509.NewCertPool(), x509.NewCertPool()
	for _, c := range certs[len(certs)-1] {
		roots.AddCert(c)
	}
	for _, cs := range certs[1 : len(certs)-1] {
		for _, c := range cs {
			intermediates.AddCert(c)
		}
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth} {
		if _, err := leaf.Verify(x509.VerifyOptions{
			Roots: roots, Intermediates: intermediates, CurrentTime: at,
			KeyUsages: []x509.ExtKeyUsage{usage},
		}); err != nil {
			t.Fatalf("leaf does not verify for %v: %v", usage, err)
		}
	}
	return leaf
}
