package xds

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// CredentialPrefix starts the SDS names of certificates kept in Kubernetes Secrets
// (kubernetes://<namespace>/<name>), as Istio names a Gateway's credentials.
const CredentialPrefix = "kubernetes://"

// CredentialReader reads a certificate Secret: its PEM chain and key.
type CredentialReader func(ctx context.Context, namespace, name string) (certPEM, keyPEM []byte, err error)

// credentialStore serves Gateway certificates from Secrets to the gateway proxies whose
// Gateway names them. They are read on first request and again when the Secret
// changes (RefreshCredential); one cache holds them all, since each watch is checked
// against the proxy's own Gateways before it opens.
type credentialStore struct {
	read  CredentialReader
	cache *cachev3.LinearCache

	mu     sync.Mutex
	loaded map[string]bool
}

// SetCredentialReader turns on SDS of Gateway certificates for authenticated gateway
// proxies.
func (s *Server) SetCredentialReader(read CredentialReader) {
	s.credentials = &credentialStore{read: read, loaded: map[string]bool{},
		cache: cachev3.NewLinearCache(resourcev3.SecretType, cachev3.WithVersionPrefix("credentials/"))}
}

// credentialWatch opens a watch on Gateway certificates the proxy's Gateways use.
func (s *Server) credentialWatch(e *watchEntry, names []string) (func(), error) {
	if s.credentials == nil {
		return nil, status.Error(codes.PermissionDenied, "gateway certificates are not served on this port")
	}
	allowed := s.gatewayCredentials(e.info.Namespace)
	for _, n := range names {
		if !slices.Contains(allowed, n) {
			s.log.Info("refused a request for a certificate no Gateway of the proxy's namespace uses", "node", e.info.Namespace, "secret", n)
			return nil, status.Errorf(codes.PermissionDenied, "secret %q is not a certificate of a Gateway in namespace %s", n, e.info.Namespace)
		}
	}
	for _, n := range names {
		if err := s.credentials.load(n, false); err != nil {
			return nil, status.Errorf(codes.Unavailable, "reading %s: %v", n, err)
		}
	}
	if e.req != nil {
		return s.credentials.cache.CreateWatch(e.req, e.sub, e.ch)
	}
	return s.credentials.cache.CreateDeltaWatch(e.dreq, e.sub, e.dch)
}

// gatewayCredentials lists the certificates of the Gateways in namespace ns.
func (s *Server) gatewayCredentials(ns string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	if s.ir == nil {
		return nil
	}
	for _, g := range s.ir.Gateways {
		if g.Namespace != ns {
			continue
		}
		for _, p := range g.Ports {
			for _, srv := range p.Servers {
				if srv.TLS != nil {
					out = append(out, srv.TLS.Certificates...)
				}
			}
		}
	}
	return out
}

// RefreshCredential re-reads a Secret that changed, if a proxy uses it.
func (s *Server) RefreshCredential(namespace, name string) {
	if s.credentials == nil {
		return
	}
	if err := s.credentials.load(CredentialPrefix+namespace+"/"+name, true); err != nil {
		s.log.Error(err, "refreshing a gateway certificate", "secret", namespace+"/"+name)
	}
}

// load reads a credential into the cache: on first use, or again when refresh is set
// and it is in use. A Secret that is gone is removed, so proxies stop using it.
func (c *credentialStore) load(sdsName string, refresh bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loaded[sdsName] != refresh {
		return nil // already loaded, or a refresh of one nobody uses
	}
	ns, name, ok := strings.Cut(strings.TrimPrefix(sdsName, CredentialPrefix), "/")
	if !ok {
		return status.Errorf(codes.InvalidArgument, "%q is not kubernetes://<namespace>/<name>", sdsName)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cert, key, err := c.read(ctx, ns, name)
	if status.Code(err) == codes.NotFound {
		c.cache.DeleteResource(sdsName)
		delete(c.loaded, sdsName)
		return nil
	}
	if err != nil {
		return err
	}
	c.loaded[sdsName] = true
	return c.cache.UpdateResources(map[string]types.Resource{sdsName: &tlsv3.Secret{Name: sdsName,
		Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{CertificateChain: inlineBytes(cert), PrivateKey: inlineBytes(key)}}}}, nil)
}
