package ca

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/util/keyutil"
)

func TestSignSelfSigned(t *testing.T) {
	a := selfSigned(t, Options{Clock: fixedClock})
	id := a.Identity("bookinfo", "reviews")
	if id != "spiffe://cluster.local/ns/bookinfo/sa/reviews" {
		t.Fatalf("Identity = %q", id)
	}
	chain, err := a.Sign(newCSR(t, id), id, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(chain) != 2 {
		t.Fatalf("self-signed chain has %d elements, want [leaf, root]", len(chain))
	}
	leaf := verifyChain(t, a, chain, fixedNow)
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != id {
		t.Errorf("URI SANs = %v, want [%s]", leaf.URIs, id)
	}
	if len(leaf.DNSNames)+len(leaf.IPAddresses)+len(leaf.EmailAddresses) != 0 {
		t.Errorf("leaf has SANs beyond the identity: %v %v %v", leaf.DNSNames, leaf.IPAddresses, leaf.EmailAddresses)
	}
	if want := x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment; leaf.KeyUsage != want {
		t.Errorf("KeyUsage = %v, want %v", leaf.KeyUsage, want)
	}
	if leaf.IsCA {
		t.Error("leaf is a CA")
	}
	// An empty subject makes the SAN extension critical (RFC 5280 4.2.1.6), as in
	// Istio's certificates.
	sanOID := asn1.ObjectIdentifier{2, 5, 29, 17}
	for _, ext := range leaf.Extensions {
		if ext.Id.Equal(sanOID) && !ext.Critical {
			t.Error("SAN extension is not critical")
		}
	}
	if got, want := leaf.NotBefore, fixedNow.Add(-backdate); !got.Equal(want) {
		t.Errorf("NotBefore = %s, want %s", got, want)
	}
	if got, want := leaf.NotAfter, fixedNow.Add(DefaultWorkloadTTL); !got.Equal(want) {
		t.Errorf("NotAfter = %s, want %s (default workload TTL)", got, want)
	}

	root := a.Root()
	if !root.IsCA || root.KeyUsage&x509.KeyUsageCertSign == 0 || len(root.ExtKeyUsage) != 0 {
		t.Errorf("root constraints: IsCA=%v KeyUsage=%v EKU=%v", root.IsCA, root.KeyUsage, root.ExtKeyUsage)
	}
	if len(root.Subject.Organization) != 1 || root.Subject.Organization[0] != "cluster.local" {
		t.Errorf("root subject = %v, want O=cluster.local", root.Subject)
	}
	if len(root.URIs) != 1 || root.URIs[0].String() != "spiffe://cluster.local" {
		t.Errorf("root URI SANs = %v, want the trust domain's ID", root.URIs)
	}
	if got, want := root.NotAfter, fixedNow.Add(DefaultRootTTL); !got.Equal(want) {
		t.Errorf("root NotAfter = %s, want %s", got, want)
	}
}

func TestSignIntermediate(t *testing.T) {
	s, root := pluggedInSecret(t, "istio-system", 365*24*time.Hour)
	a, err := fromPluggedIn(Options{Clock: fixedClock, TrustDomain: "example.org"}, s)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Root().Equal(root) {
		t.Fatal("Root is not cacerts' root-cert.pem")
	}
	id := a.Identity("default", "sleep")
	chain, err := a.Sign(newCSR(t, id), id, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// The root appears once, last, even though cert-chain.pem repeats it.
	if len(chain) != 3 {
		t.Fatalf("chain has %d elements, want [leaf, intermediate, root]", len(chain))
	}
	leaf := verifyChain(t, a, chain, fixedNow)
	if leaf.URIs[0].String() != "spiffe://example.org/ns/default/sa/sleep" {
		t.Errorf("URI SAN = %v", leaf.URIs)
	}
	// Without the intermediate the leaf must not verify: it really is in the chain.
	roots := x509.NewCertPool()
	roots.AddCert(root)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: fixedNow}); err == nil {
		t.Error("leaf verifies without the intermediate: it was signed by the root")
	}
}

func TestPluggedInWithoutCertChain(t *testing.T) {
	s, _ := pluggedInSecret(t, "istio-system", 365*24*time.Hour)
	delete(s.Data, CertChainKey)
	a, err := fromPluggedIn(Options{Clock: fixedClock}, s)
	if err != nil {
		t.Fatal(err)
	}
	id := a.Identity("a", "b")
	chain, err := a.Sign(newCSR(t, id), id, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(chain) != 3 {
		t.Fatalf("chain has %d elements, want 3", len(chain))
	}
	verifyChain(t, a, chain, fixedNow)
}

func TestPluggedInRefusesBrokenSecrets(t *testing.T) {
	other, _ := pluggedInSecret(t, "istio-system", time.Hour*48)
	for _, tc := range []struct {
		name, want string
		mutate     func(data map[string][]byte)
	}{
		{"key of another CA", "does not match", func(d map[string][]byte) { d[CAKeyKey] = other.Data[CAKeyKey] }},
		{"root of another CA", "does not verify", func(d map[string][]byte) { d[RootCertKey] = other.Data[RootCertKey] }},
		{"no root", RootCertKey, func(d map[string][]byte) { delete(d, RootCertKey) }},
		{"garbage key", CAKeyKey, func(d map[string][]byte) { d[CAKeyKey] = []byte("nope") }},
		{"garbage certificate", CACertKey, func(d map[string][]byte) { d[CACertKey] = []byte("nope") }},
		{"certificate not a CA", "may not sign", func(d map[string][]byte) { d[CACertKey] = notCA(t, d[CAKeyKey]) }},
		{"chain of another root", "does not verify", func(d map[string][]byte) {
			d[CertChainKey], d[RootCertKey] = other.Data[CertChainKey], other.Data[RootCertKey]
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := pluggedInSecret(t, "istio-system", 365*24*time.Hour)
			tc.mutate(s.Data)
			_, err := fromPluggedIn(Options{Clock: fixedClock}, s)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// notCA is a certificate over the CA's own key that is not allowed to sign.
func notCA(t *testing.T, keyPEM []byte) []byte {
	key, err := keyutil.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	signer := key.(crypto.Signer)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "not a CA"},
		NotBefore: fixedNow.Add(-time.Hour), NotAfter: fixedNow.Add(time.Hour),
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestExpiredCARefused(t *testing.T) {
	s, _ := pluggedInSecret(t, "istio-system", 2*time.Hour)
	later := func() time.Time { return fixedNow.Add(3 * time.Hour) }
	if _, err := fromPluggedIn(Options{Clock: later}, s); err == nil {
		t.Fatal("an expired CA was accepted")
	}
}

func TestSignTTL(t *testing.T) {
	now := fixedNow
	a := selfSigned(t, Options{Clock: func() time.Time { return now }, RootTTL: 30 * 24 * time.Hour})
	id := a.Identity("ns", "sa")
	sign := func(ttl time.Duration) *x509.Certificate {
		t.Helper()
		chain, err := a.Sign(newCSR(t, id), id, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return verifyChain(t, a, chain, now)
	}
	if got := sign(time.Hour).NotAfter; !got.Equal(now.Add(time.Hour)) {
		t.Errorf("1h: NotAfter = %s", got)
	}
	// Near the root's end, a leaf stops when the root does: a chain that outlives its
	// root would fail verification before the agent thinks to rotate it.
	now = fixedNow.Add(30*24*time.Hour - time.Hour)
	if got := sign(24 * time.Hour).NotAfter; !got.Equal(a.Root().NotAfter) {
		t.Errorf("near expiry: NotAfter = %s, want the root's %s", got, a.Root().NotAfter)
	}
	now = fixedNow.Add(31 * 24 * time.Hour)
	if _, err := a.Sign(newCSR(t, id), id, time.Hour); err == nil {
		t.Error("signed with an expired root")
	}
}

func TestSignTTLCappedByIntermediate(t *testing.T) {
	// The intermediate (half the root's lifetime) expires first: it is the cap.
	s, _ := pluggedInSecret(t, "istio-system", 48*time.Hour)
	a, err := fromPluggedIn(Options{Clock: fixedClock}, s)
	if err != nil {
		t.Fatal(err)
	}
	id := a.Identity("ns", "sa")
	chain, err := a.Sign(newCSR(t, id), id, 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf := verifyChain(t, a, chain, fixedNow)
	if want := fixedNow.Add(24 * time.Hour); !leaf.NotAfter.Equal(want) {
		t.Errorf("NotAfter = %s, want the intermediate's %s", leaf.NotAfter, want)
	}
}

func TestSignRefusesBadCSR(t *testing.T) {
	a := selfSigned(t, Options{Clock: fixedClock})
	id := a.Identity("ns", "sa")
	good := newCSR(t, id)
	block, _ := pem.Decode(good)
	tampered := bytes.Clone(block.Bytes)
	tampered[len(tampered)-5] ^= 0xff // inside the signature
	for name, csr := range map[string][]byte{
		"empty":          nil,
		"not PEM":        []byte("hello"),
		"wrong PEM type": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes}),
		"garbage DER":    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{1, 2, 3}}),
		"bad signature":  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: tampered}),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := a.Sign(csr, id, 0)
			if !errors.Is(err, ErrBadCSR) {
				t.Fatalf("err = %v, want ErrBadCSR", err)
			}
		})
	}
}

func TestSignIdentity(t *testing.T) {
	a := selfSigned(t, Options{Clock: fixedClock})
	id := a.Identity("ns", "sa")
	// A CSR without URI SANs gets the caller's identity.
	chain, err := a.Sign(newCSR(t), id, 0)
	if err != nil {
		t.Fatal(err)
	}
	if leaf := verifyChain(t, a, chain, fixedNow); leaf.URIs[0].String() != id {
		t.Errorf("URI SAN = %v", leaf.URIs)
	}
	for name, uris := range map[string][]string{
		"another service account": {a.Identity("ns", "admin")},
		"another namespace":       {a.Identity("kube-system", "sa")},
		"own plus another":        {id, a.Identity("ns", "admin")},
		"another trust domain":    {"spiffe://evil.example/ns/ns/sa/sa"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := a.Sign(newCSR(t, uris...), id, 0); !errors.Is(err, ErrIdentityMismatch) {
				t.Fatalf("err = %v, want ErrIdentityMismatch", err)
			}
		})
	}
	for _, bad := range []string{"", "https://cluster.local/ns/a/sa/b", "spiffe://other.domain/ns/a/sa/b", "spiffe://cluster.local"} {
		if _, err := a.Sign(newCSR(t), bad, 0); err == nil {
			t.Errorf("signed for identity %q", bad)
		}
	}
}

func TestServingCertificate(t *testing.T) {
	s, _ := pluggedInSecret(t, "istio-system", 365*24*time.Hour)
	a, err := fromPluggedIn(Options{Clock: fixedClock}, s)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"meshd-xds.istio-system.svc", "meshd-xds.istio-system.svc.cluster.local"}
	c, err := a.ServingCertificate(names)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Certificate) != 2 {
		t.Fatalf("serving chain has %d certificates, want leaf and intermediate", len(c.Certificate))
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(a.RootPEM())
	inter := x509.NewCertPool()
	ic, _ := x509.ParseCertificate(c.Certificate[1])
	inter.AddCert(ic)
	for _, n := range names {
		if _, err := c.Leaf.Verify(x509.VerifyOptions{DNSName: n, Roots: roots, Intermediates: inter, CurrentTime: fixedNow}); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	if _, err := a.ServingCertificate(nil); err == nil {
		t.Error("a serving certificate without names")
	}
}

func TestGetServingCertificateRenews(t *testing.T) {
	now := fixedNow
	a := selfSigned(t, Options{Clock: func() time.Time { return now }, WorkloadTTL: 10 * time.Hour})
	get := a.GetServingCertificate([]string{"meshd-xds.istio-system.svc"})
	hello := &tls.ClientHelloInfo{}
	first, err := get(hello)
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour)
	if again, _ := get(hello); again != first {
		t.Error("renewed a certificate early in its life")
	}
	now = now.Add(5 * time.Hour)
	renewed, err := get(hello)
	if err != nil {
		t.Fatal(err)
	}
	if renewed == first || !renewed.Leaf.NotAfter.Equal(now.Add(10*time.Hour)) {
		t.Errorf("not renewed past half its life: NotAfter %s", renewed.Leaf.NotAfter)
	}
}
