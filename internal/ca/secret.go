package ca

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"net/url"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Secret names and keys are Istio's, so an existing Istio installation's CA (plugged
// in or self-signed) carries over to meshd unchanged, and back.
const (
	// PluggedInSecret holds an operator-provided intermediate CA ("plug in CA
	// certificates" in Istio's docs).
	PluggedInSecret = "cacerts"
	// SelfSignedSecret holds the self-signed root istiod (and meshd) creates when no
	// plugged-in CA exists.
	SelfSignedSecret = "istio-ca-secret"

	CACertKey    = "ca-cert.pem"
	CAKeyKey     = "ca-key.pem"
	RootCertKey  = "root-cert.pem"
	CertChainKey = "cert-chain.pem"
)

// +kubebuilder:rbac:groups="",namespace=istio-system,resources=secrets,verbs=get;create

// LoadOrCreate returns the authority whose key is stored in namespace: the plugged-in
// `cacerts` Secret when it exists, else the self-signed `istio-ca-secret`, which it
// creates on first start. Replicas racing to create it all end up with the one that
// won.
//
// It runs before the manager starts, so c must read from the API server (client.New or
// mgr.GetAPIReader wrapped as a client), not from the manager's cache: a cached Get of
// a Secret would also start a cluster-wide Secret informer.
func LoadOrCreate(ctx context.Context, c client.Client, namespace string, opts Options) (*Authority, error) {
	opts = opts.withDefaults()
	plugged := &corev1.Secret{}
	err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: PluggedInSecret}, plugged)
	switch {
	case err == nil:
		return fromPluggedIn(opts, plugged)
	case !apierrors.IsNotFound(err):
		return nil, fmt.Errorf("read Secret %s/%s: %w", namespace, PluggedInSecret, err)
	}

	key := types.NamespacedName{Namespace: namespace, Name: SelfSignedSecret}
	self := &corev1.Secret{}
	err = c.Get(ctx, key, self)
	if apierrors.IsNotFound(err) {
		self, err = newSelfSignedSecret(opts, namespace)
		if err != nil {
			return nil, err
		}
		err = c.Create(ctx, self)
		if apierrors.IsAlreadyExists(err) {
			// Another replica won the race: use its root, or the two would sign with
			// different keys.
			self = &corev1.Secret{}
			err = c.Get(ctx, key, self)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", key, err)
	}
	return fromSelfSigned(opts, self)
}

// fromPluggedIn reads Istio's `cacerts` layout: the intermediate's certificate and
// key, the root, and the chain from the intermediate up to the root.
func fromPluggedIn(opts Options, s *corev1.Secret) (*Authority, error) {
	source := s.Namespace + "/" + s.Name
	signer, cert, err := parseKeyPair(s, source)
	if err != nil {
		return nil, err
	}
	roots, err := certutil.ParseCertsPEM(s.Data[RootCertKey])
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", source, RootCertKey, err)
	}
	var chain []*x509.Certificate
	// cert-chain.pem is optional when ca-cert.pem is signed by the root directly.
	if len(s.Data[CertChainKey]) > 0 {
		if chain, err = certutil.ParseCertsPEM(s.Data[CertChainKey]); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", source, CertChainKey, err)
		}
	}
	return newAuthority(opts, signer, cert, chain, roots, source)
}

// NewEphemeral is a self-signed authority kept only in memory: for tests and tools that
// need a real CA without an API server. A control plane uses LoadOrCreate, whose root
// survives restarts.
func NewEphemeral(opts Options) (*Authority, error) {
	s, err := newSelfSignedSecret(opts.withDefaults(), "")
	if err != nil {
		return nil, err
	}
	return fromSelfSigned(opts, s)
}

// fromSelfSigned reads Istio's `istio-ca-secret` layout, where the CA certificate is
// its own root.
func fromSelfSigned(opts Options, s *corev1.Secret) (*Authority, error) {
	source := s.Namespace + "/" + s.Name
	signer, cert, err := parseKeyPair(s, source)
	if err != nil {
		return nil, err
	}
	return newAuthority(opts, signer, cert, nil, []*x509.Certificate{cert}, source)
}

func parseKeyPair(s *corev1.Secret, source string) (crypto.Signer, *x509.Certificate, error) {
	certs, err := certutil.ParseCertsPEM(s.Data[CACertKey])
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %s: %w", source, CACertKey, err)
	}
	key, err := keyutil.ParsePrivateKeyPEM(s.Data[CAKeyKey])
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %s: %w", source, CAKeyKey, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("%s: %s: %T cannot sign", source, CAKeyKey, key)
	}
	return signer, certs[0], nil
}

// newSelfSignedSecret makes a new root: ECDSA P-256 (what Istio uses for workload keys,
// and far cheaper to sign with than RSA), named after the trust domain like istiod's,
// and constrained as the SPIFFE X.509-SVID spec asks of a signing certificate.
func newSelfSignedSecret(opts Options, namespace string) (*corev1.Secret, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := opts.Clock()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{opts.TrustDomain}},
		// Backdated so a root made on a node whose clock runs ahead is already valid
		// elsewhere.
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(opts.RootTTL),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		// A SPIFFE signing certificate may carry the trust domain's ID (no path).
		URIs: []*url.URL{{Scheme: "spiffe", Host: opts.TrustDomain}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: certutil.CertificateBlockType, Bytes: der})
	keyPEM, err := keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		return nil, err
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: SelfSignedSecret, Namespace: namespace,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "meshd"},
		},
		// istiod's own type for this Secret, so Istio tooling recognises it.
		Type: "istio.io/ca-root",
		Data: map[string][]byte{CACertKey: certPEM, CAKeyKey: keyPEM},
	}, nil
}
