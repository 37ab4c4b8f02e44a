package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	certutil "k8s.io/client-go/util/cert"
)

// backdate is how far in the past certificates start, so a peer whose clock lags a
// little behind meshd's still accepts a certificate signed a moment ago.
const backdate = 5 * time.Minute

var (
	// ErrBadCSR means the request is malformed: not a PEM CSR, or its signature does
	// not verify with its own key (the requester does not hold the key).
	ErrBadCSR = errors.New("invalid certificate signing request")
	// ErrIdentityMismatch means the CSR names an identity other than the one the
	// caller is entitled to.
	ErrIdentityMismatch = errors.New("CSR names an identity the caller does not hold")
)

// Sign issues a workload certificate for identity (a SPIFFE ID in the authority's trust
// domain) over the public key of csrPEM, valid for ttl (WorkloadTTL when ttl <= 0) but
// never past the CA's own expiry. It returns the PEM chain Istio's agent expects:
// [leaf, intermediates..., root].
//
// The CA decides the certificate's contents: only the CSR's key is used. URI SANs in the
// CSR are claims, though, so a CSR naming any identity other than identity is refused
// (ErrIdentityMismatch) rather than silently rewritten.
func (a *Authority) Sign(csrPEM []byte, identity string, ttl time.Duration) ([]string, error) {
	id, err := a.parseIdentity(identity)
	if err != nil {
		return nil, err
	}
	csr, err := parseCSR(csrPEM)
	if err != nil {
		return nil, err
	}
	for _, u := range csr.URIs {
		if u.String() != identity {
			return nil, fmt.Errorf("%w: CSR asks for %q, caller is %q", ErrIdentityMismatch, u, identity)
		}
	}
	if ttl <= 0 {
		ttl = a.opts.WorkloadTTL
	}
	leaf, err := a.issue(workloadTemplate(id), csr.PublicKey, ttl)
	if err != nil {
		return nil, err
	}
	return append([]string{string(pem.EncodeToMemory(&pem.Block{Type: certutil.CertificateBlockType, Bytes: leaf}))}, a.chainPEM...), nil
}

// WorkloadKeyPair is a workload certificate with its key, as SDS hands it to a proxy
// that has no agent of its own to make a CSR.
type WorkloadKeyPair struct {
	// ChainPEM is the leaf followed by the intermediates (what a TLS peer is sent);
	// KeyPEM the PKCS#8 private key.
	ChainPEM, KeyPEM []byte
	NotBefore        time.Time
	NotAfter         time.Time
	// RenewAt is half the certificate's life from its issue, when Istio's agents
	// renew too.
	RenewAt time.Time
}

// IssueWorkload creates a fresh key and a WorkloadTTL certificate for identity. The
// caller must have authenticated identity: this is for meshd's own SDS, which has
// already bound the proxy's stream to it.
func (a *Authority) IssueWorkload(identity string) (WorkloadKeyPair, error) {
	id, err := a.parseIdentity(identity)
	if err != nil {
		return WorkloadKeyPair{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return WorkloadKeyPair{}, err
	}
	der, err := a.issue(workloadTemplate(id), key.Public(), a.opts.WorkloadTTL)
	if err != nil {
		return WorkloadKeyPair{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return WorkloadKeyPair{}, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return WorkloadKeyPair{}, err
	}
	chain := pem.EncodeToMemory(&pem.Block{Type: certutil.CertificateBlockType, Bytes: der})
	for _, c := range a.intermediates {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: certutil.CertificateBlockType, Bytes: c.Raw})...)
	}
	issued := leaf.NotBefore.Add(backdate)
	return WorkloadKeyPair{ChainPEM: chain, KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter, RenewAt: issued.Add(leaf.NotAfter.Sub(issued) / 2)}, nil
}

// workloadTemplate is a workload certificate for id. Subject stays empty as in Istio's
// workload certificates: the identity is the URI SAN, which Go then marks critical as
// RFC 5280 requires. Both usages: a workload is a TLS client and a server.
func workloadTemplate(id *url.URL) *x509.Certificate {
	return &x509.Certificate{
		URIs:                  []*url.URL{id},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
}

// ServingCertificate issues a server certificate for meshd's own TLS listener (xDS and
// CA on :15012) with a fresh key, valid for WorkloadTTL. Proxies verify it against the
// root in istio-ca-root-cert, so dnsNames must include the name they dial (e.g.
// meshd-xds.istio-system.svc). The chain holds the leaf and intermediates, not the
// root, as TLS expects.
func (a *Authority) ServingCertificate(dnsNames []string) (tls.Certificate, error) {
	if len(dnsNames) == 0 {
		return tls.Certificate{}, errors.New("a serving certificate needs at least one DNS name")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		DNSNames:              slices.Clone(dnsNames),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := a.issue(tmpl, key.Public(), a.opts.WorkloadTTL)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	out := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
	for _, c := range a.intermediates {
		out.Certificate = append(out.Certificate, c.Raw)
	}
	return out, nil
}

// GetServingCertificate returns a tls.Config.GetCertificate callback that serves a
// ServingCertificate and renews it once half its lifetime has passed, so a long-running
// manager never serves an expired certificate.
func (a *Authority) GetServingCertificate(dnsNames []string) func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	var (
		mu      sync.Mutex
		current *tls.Certificate
	)
	return func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		mu.Lock()
		defer mu.Unlock()
		if current != nil {
			l := current.Leaf
			if a.opts.Clock().Before(l.NotBefore.Add(l.NotAfter.Sub(l.NotBefore) / 2)) {
				return current, nil
			}
		}
		c, err := a.ServingCertificate(dnsNames)
		if err != nil {
			return nil, err
		}
		current = &c
		return current, nil
	}
}

// issue signs tmpl over pub with a fresh serial, starting slightly in the past and
// ending after ttl or at the CA's expiry, whichever comes first.
func (a *Authority) issue(tmpl *x509.Certificate, pub any, ttl time.Duration) ([]byte, error) {
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := a.opts.Clock()
	tmpl.SerialNumber = serial
	tmpl.NotBefore = now.Add(-backdate)
	tmpl.NotAfter = now.Add(ttl)
	if tmpl.NotAfter.After(a.notAfter) {
		tmpl.NotAfter = a.notAfter
	}
	if !tmpl.NotAfter.After(now) {
		return nil, fmt.Errorf("the CA (%s) expired at %s", a.source, a.notAfter.Format(time.RFC3339))
	}
	return x509.CreateCertificate(rand.Reader, tmpl, a.cert, pub, a.signer)
}

// parseIdentity checks that identity is a SPIFFE ID of this trust domain: the
// authority never signs for another domain, whatever a caller computed.
func (a *Authority) parseIdentity(identity string) (*url.URL, error) {
	u, err := url.Parse(identity)
	if err != nil || u.Scheme != "spiffe" || u.Host != a.opts.TrustDomain || !strings.HasPrefix(u.Path, "/") ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Port() != "" {
		return nil, fmt.Errorf("%q is not a SPIFFE ID in trust domain %q", identity, a.opts.TrustDomain)
	}
	return u, nil
}

// parseCSR decodes a PEM CSR and checks its self-signature, proving the requester
// holds the private key the certificate will be bound to.
func parseCSR(csrPEM []byte) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode(csrPEM)
	if block == nil || block.Type != certutil.CertificateRequestBlockType {
		return nil, fmt.Errorf("%w: no PEM %q block", ErrBadCSR, certutil.CertificateRequestBlockType)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCSR, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: signature: %v", ErrBadCSR, err)
	}
	return csr, nil
}

// newSerial is a random 128-bit serial number, as the CA/Browser baseline asks (at
// least 64 bits of randomness) so serials never collide across replicas.
func newSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}
