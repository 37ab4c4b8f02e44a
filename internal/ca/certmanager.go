package ca

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"net/url"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CertManagerSecret holds, in cacerts' format, the intermediate CA cert-manager issued
// to meshd; CertManagerRequest is the CertificateRequest that asks for it.
const (
	CertManagerSecret  = "meshd-cert-manager-ca"
	CertManagerRequest = "meshd-ca"
)

// +kubebuilder:rbac:groups=cert-manager.io,namespace=istio-system,resources=certificaterequests,verbs=get;create;delete
// +kubebuilder:rbac:groups="",namespace=istio-system,resources=secrets,verbs=update

// IssuerRef names the cert-manager Issuer or ClusterIssuer that signs meshd's CA.
type IssuerRef struct{ Name, Kind, Group string }

// LoadFromCertManager returns an authority whose signing certificate is an
// intermediate CA issued by a cert-manager issuer: kept in the CertManagerSecret and
// reused while it has more than half its life left; otherwise meshd makes a new key,
// asks for a CA certificate with a CertificateRequest, waits (up to timeout) for the
// issuer to sign it, and stores key, certificate and the issuer's CA in the Secret.
// Workload certificates then chain to the issuer's root.
func LoadFromCertManager(ctx context.Context, c client.Client, namespace string, ref IssuerRef, ttl, timeout time.Duration, opts Options) (*Authority, error) {
	opts = opts.withDefaults()
	key := types.NamespacedName{Namespace: namespace, Name: CertManagerSecret}
	secret := &corev1.Secret{}
	err := c.Get(ctx, key, secret)
	switch {
	case err == nil:
		if a, err := fromPluggedIn(opts, secret); err == nil && a.halfLifeLeft(opts.Clock()) {
			return a, nil
		}
	case !apierrors.IsNotFound(err):
		return nil, fmt.Errorf("read Secret %s: %w", key, err)
	}
	data, err := requestIntermediate(ctx, c, namespace, ref, ttl, timeout, opts)
	if err != nil {
		return nil, err
	}
	fresh := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: CertManagerSecret, Namespace: namespace}, Type: corev1.SecretTypeOpaque, Data: data}
	if secret.ResourceVersion == "" {
		err = c.Create(ctx, fresh)
	} else {
		fresh.ResourceVersion = secret.ResourceVersion
		err = c.Update(ctx, fresh)
	}
	if err != nil {
		return nil, fmt.Errorf("store the intermediate CA in %s: %w", key, err)
	}
	return fromPluggedIn(opts, fresh)
}

// requestIntermediate creates a CertificateRequest for a CA certificate and returns
// the cacerts-format data once the issuer has signed it.
func requestIntermediate(ctx context.Context, c client.Client, namespace string, ref IssuerRef, ttl, timeout time.Duration, opts Options) (map[string][]byte, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	td, _ := url.Parse("spiffe://" + opts.TrustDomain)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{Organization: []string{opts.TrustDomain}, CommonName: "meshd intermediate CA"}, URIs: []*url.URL{td},
	}, priv)
	if err != nil {
		return nil, err
	}
	name := types.NamespacedName{Namespace: namespace, Name: CertManagerRequest}
	// A request left from an earlier attempt carries another key.
	old := &certmanagerv1.CertificateRequest{ObjectMeta: metav1.ObjectMeta{Name: name.Name, Namespace: namespace}}
	if err := c.Delete(ctx, old); err != nil && !apierrors.IsNotFound(err) {
		return nil, err
	}
	cr := &certmanagerv1.CertificateRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name.Name, Namespace: namespace},
		Spec: certmanagerv1.CertificateRequestSpec{
			Request:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}),
			IsCA:      true,
			Duration:  &metav1.Duration{Duration: ttl},
			Usages:    []certmanagerv1.KeyUsage{certmanagerv1.UsageCertSign, certmanagerv1.UsageCRLSign, certmanagerv1.UsageDigitalSignature},
			IssuerRef: cmmeta.IssuerReference{Name: ref.Name, Kind: ref.Kind, Group: ref.Group},
		},
	}
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		err := c.Create(ctx, cr.DeepCopy())
		return err == nil, client.IgnoreAlreadyExists(err) // the old one may still be going away
	}); err != nil {
		return nil, fmt.Errorf("create CertificateRequest %s: %w", name, err)
	}
	var signed *certmanagerv1.CertificateRequest
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		got := &certmanagerv1.CertificateRequest{}
		if err := c.Get(ctx, name, got); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		for _, cond := range got.Status.Conditions {
			if cond.Type == certmanagerv1.CertificateRequestConditionReady && cond.Status == cmmeta.ConditionTrue && len(got.Status.Certificate) > 0 {
				signed = got
				return true, nil
			}
			if cond.Type == certmanagerv1.CertificateRequestConditionDenied && cond.Status == cmmeta.ConditionTrue {
				return false, fmt.Errorf("CertificateRequest %s was denied: %s", name, cond.Message)
			}
		}
		return false, nil
	})
	if err != nil {
		return nil, fmt.Errorf("waiting for issuer %s %s to sign CertificateRequest %s: %w", ref.Kind, ref.Name, name, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{
		CACertKey:    signed.Status.Certificate,
		CAKeyKey:     pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		RootCertKey:  signed.Status.CA,
		CertChainKey: signed.Status.Certificate,
	}, nil
}

// halfLifeLeft reports whether the signing certificate has at least half its life left.
func (a *Authority) halfLifeLeft(now time.Time) bool {
	c := a.cert
	return now.Before(c.NotBefore.Add(c.NotAfter.Sub(c.NotBefore) / 2))
}
