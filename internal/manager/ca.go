package manager

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1alpha1 "github.com/meshd-io/meshd/api/meshd/v1alpha1"
	"github.com/meshd-io/meshd/internal/ca"
	"github.com/meshd-io/meshd/internal/xds"
)

// certManagerWait bounds how long meshd waits at start for cert-manager to sign its CA.
const certManagerWait = 2 * time.Minute

// setupCA loads (or creates) the mesh CA, publishes its root to every namespace and
// serves, on every replica, Istio's certificate service and xDS over TLS on the secure
// port, as istiod does on 15012. It returns the bound address.
func setupCA(mgr ctrl.Manager, cfg *rest.Config, opts Options, xdsServer *xds.Server) (net.Addr, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A direct client: the manager's cache is not running yet, and a cached Secret read
	// would start a cluster-wide Secret informer.
	direct, err := client.New(cfg, client.Options{Scheme: mgr.GetScheme()})
	if err != nil {
		return nil, err
	}
	mesh := &meshv1alpha1.Mesh{}
	if err := direct.Get(ctx, client.ObjectKey{Name: meshv1alpha1.MeshName}, mesh); err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("read the Mesh: %w", err)
	}
	spec := mesh.Spec.WithDefaults()
	caOpts := ca.Options{TrustDomain: spec.TrustDomain, RootTTL: spec.CA.RootCertTTL.Duration, WorkloadTTL: spec.CA.WorkloadCertTTL.Duration}
	var authority *ca.Authority
	if spec.CA.Mode == meshv1alpha1.CAModeCertManager && spec.CA.CertManager != nil {
		// The issuer may take a while (an ACME or Vault issuer, a pending approval).
		cmCtx, cmCancel := context.WithTimeout(context.Background(), certManagerWait+10*time.Second)
		defer cmCancel()
		ref := spec.CA.CertManager.IssuerRef
		authority, err = ca.LoadFromCertManager(cmCtx, direct, opts.CANamespace,
			ca.IssuerRef{Name: ref.Name, Kind: string(ref.Kind), Group: ref.Group}, spec.CA.RootCertTTL.Duration, certManagerWait, caOpts)
	} else {
		authority, err = ca.LoadOrCreate(ctx, direct, opts.CANamespace, caOpts)
	}
	if err != nil {
		return nil, fmt.Errorf("mesh CA: %w", err)
	}
	publisher := &ca.RootCertPublisher{Client: mgr.GetClient(), RootPEM: authority.RootPEM}
	if err := publisher.SetupWithManager(mgr); err != nil {
		return nil, err
	}
	clientset, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	authn := &ca.TokenReviewAuthenticator{Client: clientset}
	service := ca.NewService(authority, authn, ctrl.Log.WithName("ca"))
	roots := x509.NewCertPool()
	roots.AddCert(authority.Root())
	tlsConfig := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: authority.GetServingCertificate(servingNames(opts)),
		// Proxies with a mesh certificate present it; new ones have only their token.
		ClientAuth: tls.VerifyClientCertIfGiven,
		ClientCAs:  roots,
	}
	lis, err := net.Listen("tcp", opts.SecureXDSAddr)
	if err != nil {
		return nil, fmt.Errorf("secure xDS address %s: %w", opts.SecureXDSAddr, err)
	}
	xdsServer.SetSecretIssuer(authority)
	xdsServer.SetCredentialReader(readCertificateSecret(direct))
	serve := func(ctx context.Context) error {
		return xdsServer.ServeWith(ctx, lis, xds.ServeOptions{
			GRPC:     []grpc.ServerOption{grpc.Creds(credentials.NewTLS(tlsConfig))},
			Register: service.Register,
			Identify: identifyProxy(authority, authn),
		})
	}
	if err := mgr.Add(nonLeaderRunnable(serve)); err != nil {
		return nil, err
	}
	return lis.Addr(), nil
}

// servingNames are the DNS names the secure port's certificate carries: the host
// injected proxies dial (their discovery and CA address), its cluster-domain form, and
// istiod's, which Istio's agents use when nothing else is configured.
func servingNames(opts Options) []string {
	names := []string{"istiod.istio-system.svc", "localhost"}
	if host, _, err := net.SplitHostPort(opts.Injection.DiscoveryAddress); err == nil && host != "" {
		names = append(names, host)
		if strings.HasSuffix(host, ".svc") {
			names = append(names, host+"."+opts.Injection.ClusterDomain)
		}
	}
	return names
}

// identifyProxy admits xDS streams on the secure port only from callers who prove who
// they are: a mesh certificate verified in the TLS handshake (its SPIFFE ID), or a
// service-account token (TokenReview). The CA's own method is unary and authenticates
// by token itself.
func identifyProxy(authority *ca.Authority, authn ca.Authenticator) xds.Identify {
	return func(ctx context.Context) (xds.Identity, error) {
		if p, ok := peer.FromContext(ctx); ok {
			if tlsInfo, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(tlsInfo.State.VerifiedChains) > 0 {
				leaf := tlsInfo.State.VerifiedChains[0][0]
				if id, ok := xds.CertificateIdentity(leaf, authority.TrustDomain()); ok {
					return id, nil
				}
				return xds.Identity{}, status.Error(codes.Unauthenticated, "the client certificate carries no SPIFFE ID of a service account in this trust domain")
			}
		}
		caller, err := authn.Authenticate(ctx)
		if err != nil {
			return xds.Identity{}, status.Errorf(codes.Unauthenticated, "xDS on the secure port needs a mesh certificate or a service-account token: %v", err)
		}
		return xds.Identity{SPIFFE: authority.Identity(caller.Namespace, caller.ServiceAccount),
			Namespace: caller.Namespace, ServiceAccount: caller.ServiceAccount}, nil
	}
}

// readCertificateSecret reads a Gateway's certificate Secret directly from the API
// server when a gateway proxy asks for it: meshd keeps no cache of Secret contents.
// It takes the kubernetes.io/tls keys, or Istio's generic cert and key.
func readCertificateSecret(c client.Client) xds.CredentialReader {
	return func(ctx context.Context, namespace, name string) ([]byte, []byte, error) {
		s := &corev1.Secret{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, s); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, nil, status.Errorf(codes.NotFound, "Secret %s/%s does not exist", namespace, name)
			}
			return nil, nil, err
		}
		for _, keys := range [][2]string{{corev1.TLSCertKey, corev1.TLSPrivateKeyKey}, {"cert", "key"}} {
			if cert, key := s.Data[keys[0]], s.Data[keys[1]]; len(cert) > 0 && len(key) > 0 {
				return cert, key, nil
			}
		}
		return nil, nil, fmt.Errorf("Secret %s/%s has neither %s/%s nor cert/key", namespace, name, corev1.TLSCertKey, corev1.TLSPrivateKeyKey)
	}
}
