// Package ca is meshd's SPIFFE certificate authority. It speaks Istio's CA protocol
// (IstioCertificateService over gRPC on :15012), so the istio-agent in an injected
// sidecar gets its workload certificate from meshd exactly as it would from istiod, and
// it keeps its root where Istio keeps it: the `cacerts` Secret (a plugged-in
// intermediate) or the `istio-ca-secret` Secret (a self-signed root), published to
// every namespace as the `istio-ca-root-cert` ConfigMap.
package ca

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"fmt"
	"time"

	certutil "k8s.io/client-go/util/cert"
)

// Defaults match istiod's, so a cluster moving from Istio sees the same identities and
// lifetimes.
const (
	DefaultTrustDomain = "cluster.local"
	DefaultRootTTL     = 10 * 365 * 24 * time.Hour
	DefaultWorkloadTTL = 24 * time.Hour
)

// Options configure the authority. Zero values take the defaults above.
type Options struct {
	// TrustDomain is the SPIFFE trust domain: identities are spiffe://<TrustDomain>/...
	TrustDomain string
	// RootTTL is the lifetime of a self-signed root meshd creates. An existing root keeps
	// its own lifetime.
	RootTTL time.Duration
	// WorkloadTTL is the longest (and default) lifetime of a workload certificate.
	WorkloadTTL time.Duration
	// Clock returns the current time; tests set it to sign at a fixed moment.
	Clock func() time.Time
}

func (o Options) withDefaults() Options {
	if o.TrustDomain == "" {
		o.TrustDomain = DefaultTrustDomain
	}
	if o.RootTTL <= 0 {
		o.RootTTL = DefaultRootTTL
	}
	if o.WorkloadTTL <= 0 {
		o.WorkloadTTL = DefaultWorkloadTTL
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return o
}

// Authority signs certificates with one CA key. It is immutable once built, so it is
// safe for concurrent use by the gRPC service and the serving-certificate rotation.
type Authority struct {
	opts Options
	// signer and cert are the key and certificate that sign leaves: the root itself for
	// a self-signed CA, the plugged-in intermediate for `cacerts`.
	signer crypto.Signer
	cert   *x509.Certificate
	// intermediates are the certificates between a leaf and the root, cert first, root
	// excluded: what a leaf's chain carries after the leaf. Empty for a self-signed CA.
	intermediates []*x509.Certificate
	// root is the root the signing certificate chains to.
	root *x509.Certificate
	// chainPEM is each intermediate then the roots, one PEM string each, appended to
	// every leaf: Istio's agent takes the last element as the root and the rest as the
	// chain.
	chainPEM []string
	// rootPEM holds every trusted root.
	rootPEM []byte
	// notAfter is the earliest expiry on the chain: no leaf may outlive it.
	notAfter time.Time
	// source names the Secret the key came from, for logs.
	source string
}

// newAuthority checks that the key matches the signing certificate, that the
// certificate may sign, and that it chains to one of the roots, then precomputes what
// every signature needs. chain may hold the signing certificate, intermediates and the
// root in any order (as cert-chain.pem does); only the verified path is kept.
func newAuthority(opts Options, signer crypto.Signer, cert *x509.Certificate, chain, roots []*x509.Certificate, source string) (*Authority, error) {
	opts = opts.withDefaults()
	if !publicKeysEqual(signer.Public(), cert.PublicKey) {
		return nil, fmt.Errorf("%s: the CA key does not match the CA certificate", source)
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("%s: the CA certificate %q may not sign certificates (needs CA:true and keyCertSign)", source, cert.Subject)
	}
	if len(roots) == 0 {
		return nil, fmt.Errorf("%s: no root certificate", source)
	}
	rootPool, pool := x509.NewCertPool(), x509.NewCertPool()
	for _, r := range roots {
		rootPool.AddCert(r)
	}
	for _, c := range chain {
		pool.AddCert(c)
	}
	paths, err := cert.Verify(x509.VerifyOptions{
		Roots: rootPool, Intermediates: pool, CurrentTime: opts.Clock(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return nil, fmt.Errorf("%s: the CA certificate does not verify against the root: %w", source, err)
	}
	// paths[0] is [cert, intermediates..., root]; for a self-signed CA just [root].
	path := paths[0]
	a := &Authority{opts: opts, signer: signer, cert: cert, root: path[len(path)-1], source: source}
	a.intermediates = path[:len(path)-1]
	a.notAfter = a.root.NotAfter
	for _, c := range a.intermediates {
		if c.NotAfter.Before(a.notAfter) {
			a.notAfter = c.NotAfter
		}
		p, err := certutil.EncodeCertificates(c)
		if err != nil {
			return nil, err
		}
		a.chainPEM = append(a.chainPEM, string(p))
	}
	// Every root is trusted (root-cert.pem may bundle an old and a new root while one
	// replaces the other); like istiod, the last element of a chain carries them all.
	rootPEM, err := certutil.EncodeCertificates(roots...)
	if err != nil {
		return nil, err
	}
	a.rootPEM = rootPEM
	a.chainPEM = append(a.chainPEM, string(rootPEM))
	return a, nil
}

// RootPEM is the PEM of the trusted root certificate(s): what proxies trust, the last
// element of every signed chain, and what the istio-ca-root-cert ConfigMap carries.
func (a *Authority) RootPEM() []byte { return bytes.Clone(a.rootPEM) }

// Root is the root certificate the signing certificate chains to.
func (a *Authority) Root() *x509.Certificate { return a.root }

// TrustDomain is the SPIFFE trust domain the authority issues identities in.
func (a *Authority) TrustDomain() string { return a.opts.TrustDomain }

// WorkloadTTL is the longest lifetime of a workload certificate.
func (a *Authority) WorkloadTTL() time.Duration { return a.opts.WorkloadTTL }

// Source names the Secret (namespace/name) the signing key was loaded from.
func (a *Authority) Source() string { return a.source }

// Identity is the SPIFFE ID of a Kubernetes service account, in Istio's form.
func (a *Authority) Identity(namespace, serviceAccount string) string {
	return "spiffe://" + a.opts.TrustDomain + "/ns/" + namespace + "/sa/" + serviceAccount
}

// publicKeysEqual compares two public keys of any standard type (they all implement
// Equal since Go 1.15).
func publicKeysEqual(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}
