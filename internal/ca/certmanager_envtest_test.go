package ca

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// fakeIssuer plays cert-manager's part for one namespace: it signs every pending
// CertificateRequest with its own root, as a CA Issuer would, through the real API.
func fakeIssuer(ctx context.Context, t *testing.T, c client.Client, ns string) (*x509.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "corp root"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * 365 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := x509.ParseCertificate(der)
	rootPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	serial := int64(100)
	go func() {
		for ctx.Err() == nil {
			time.Sleep(100 * time.Millisecond)
			var list certmanagerv1.CertificateRequestList
			if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
				continue
			}
			for i := range list.Items {
				cr := &list.Items[i]
				if len(cr.Status.Certificate) > 0 {
					continue
				}
				block, _ := pem.Decode(cr.Spec.Request)
				csr, err := x509.ParseCertificateRequest(block.Bytes)
				if err != nil {
					continue
				}
				serial++
				leaf := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: csr.Subject, URIs: csr.URIs, IsCA: cr.Spec.IsCA,
					BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
					NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(cr.Spec.Duration.Duration)}
				der, err := x509.CreateCertificate(rand.Reader, leaf, root, csr.PublicKey, key)
				if err != nil {
					continue
				}
				cr.Status.Certificate = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
				cr.Status.CA = rootPEM
				cr.Status.Conditions = []certmanagerv1.CertificateRequestCondition{{Type: certmanagerv1.CertificateRequestConditionReady, Status: cmmeta.ConditionTrue, Reason: "Issued"}}
				_ = c.Status().Update(ctx, cr)
			}
		}
	}()
	return root, rootPEM
}

// TestCertManagerIntermediate: in CertManager mode meshd asks the configured issuer for
// an intermediate CA with a CertificateRequest, keeps it in a Secret and signs workload
// certificates that chain to the issuer's root; a restart reuses the intermediate.
func TestCertManagerIntermediate(t *testing.T) {
	cfg := apiServer(t)
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = certmanagerv1.AddToScheme(scheme)
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ns := newNamespace(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	root, _ := fakeIssuer(ctx, t, c, ns)
	ref := IssuerRef{Name: "corp-ca", Kind: "ClusterIssuer", Group: "cert-manager.io"}

	a, err := LoadFromCertManager(ctx, c, ns, ref, 30*24*time.Hour, 30*time.Second, Options{})
	if err != nil {
		t.Fatal(err)
	}
	chain, err := a.Sign(newCSR(t, "spiffe://cluster.local/ns/shop/sa/web"), "spiffe://cluster.local/ns/shop/sa/web", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	var leaf *x509.Certificate
	for i, p := range chain {
		block, _ := pem.Decode([]byte(p))
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			leaf = cert
		} else {
			inter.AddCert(cert)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Fatalf("workload certificate does not chain to the issuer's root: %v", err)
	}

	again, err := LoadFromCertManager(ctx, c, ns, ref, 30*24*time.Hour, 30*time.Second, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if again.cert.SerialNumber.Cmp(a.cert.SerialNumber) != 0 {
		t.Errorf("a restart requested a new intermediate (serial %v, was %v)", again.cert.SerialNumber, a.cert.SerialNumber)
	}
}
