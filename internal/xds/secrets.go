package xds

import (
	"slices"
	"strings"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/go-logr/logr"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/meshd-io/meshd/internal/ca"
)

// Istio's SDS resource names: the workload's own certificate and the mesh's roots.
const (
	SecretWorkload = "default"
	SecretRootCA   = "ROOTCA"
)

// secretVersionPrefix starts the versions of every identity's secrets.
const secretVersionPrefix = "sds/"

// SecretIssuer is the mesh CA as SDS needs it.
type SecretIssuer interface {
	IssueWorkload(identity string) (ca.WorkloadKeyPair, error)
	RootPEM() []byte
}

// secrets serves each authenticated identity its own `default` and `ROOTCA`: one
// LinearCache per identity, so every stream of that identity shares one certificate,
// renewed at half its life. Identities are never mixed: a stream reads only the cache
// of the identity its connection proved.
type secrets struct {
	issuer SecretIssuer
	log    logr.Logger

	mu    sync.Mutex
	byID  map[string]*identitySecrets
	retry time.Duration
}

type identitySecrets struct {
	cache *cachev3.LinearCache
	// watches counts open watches; an identity nobody watched for a whole renewal
	// period is dropped at its renewal instead of renewed.
	watches int
	watched bool
	timer   *time.Timer
}

// SetSecretIssuer turns on SDS for authenticated streams (the secure port).
func (s *Server) SetSecretIssuer(issuer SecretIssuer) {
	s.secrets = &secrets{issuer: issuer, byID: map[string]*identitySecrets{}, retry: 10 * time.Second, log: s.log}
}

// checkSecretRequest returns the identity a secret request is answered for, or a
// PermissionDenied error when the stream is unauthenticated or asks for a secret that
// is not its own.
func (s *Server) checkSecretRequest(node *corev3.Node, names []string) (string, error) {
	id := authenticatedIdentity(node)
	if s.secrets == nil || id == "" {
		s.log.Info("refused a secret request from an unauthenticated stream", "node", node.GetId(), "names", names)
		return "", status.Error(codes.PermissionDenied, "secrets are served only on the secure port, to a proxy that authenticated with a mesh certificate or a service-account token")
	}
	for _, n := range names {
		if n != SecretWorkload && n != SecretRootCA {
			s.log.Info("refused a request for a secret that is not the proxy's own", "node", node.GetId(), "identity", id, "secret", n)
			return "", status.Errorf(codes.PermissionDenied, "secret %q is not served to %s: a proxy reads only %q (its own certificate) and %q", n, id, SecretWorkload, SecretRootCA)
		}
	}
	return id, nil
}

func (s *Server) secretWatch(e *watchEntry) (func(), error) {
	names := e.req.GetResourceNames()
	node := e.req.GetNode()
	if e.dreq != nil {
		names, node = e.dreq.GetResourceNamesSubscribe(), e.dreq.GetNode()
	}
	if authenticatedIdentity(node) != "" && len(names) > 0 && !slices.ContainsFunc(names, func(n string) bool { return !strings.HasPrefix(n, CredentialPrefix) }) {
		return s.credentialWatch(e, names)
	}
	id, err := s.checkSecretRequest(node, names)
	if err != nil {
		return nil, err
	}
	is, err := s.secrets.acquire(id)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "issuing the certificate of %s: %v", id, err)
	}
	var cancel func()
	if e.req != nil {
		req := e.req
		if req.GetVersionInfo() == "nacked" { // see CreateWatch: wait for the next change
			req = proto.Clone(req).(*cachev3.Request)
			req.VersionInfo = secretVersionPrefix + "nacked"
		}
		cancel, err = is.cache.CreateWatch(req, e.sub, e.ch)
	} else {
		cancel, err = is.cache.CreateDeltaWatch(e.dreq, e.sub, e.dch)
	}
	if err != nil {
		s.secrets.release(is)
		return nil, err
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			if cancel != nil {
				cancel()
			}
			s.secrets.release(is)
		})
	}, nil
}

// acquire returns the identity's secrets, issuing its first certificate if needed.
func (c *secrets) acquire(id string) (*identitySecrets, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if is := c.byID[id]; is != nil {
		is.watches++
		is.watched = true
		return is, nil
	}
	is := &identitySecrets{cache: cachev3.NewLinearCache(resourcev3.SecretType, cachev3.WithVersionPrefix(secretVersionPrefix))}
	renewAt, err := c.issue(id, is)
	if err != nil {
		return nil, err
	}
	is.watches, is.watched = 1, true
	c.byID[id] = is
	c.schedule(id, is, time.Until(renewAt))
	return is, nil
}

func (c *secrets) release(is *identitySecrets) {
	c.mu.Lock()
	defer c.mu.Unlock()
	is.watches--
}

// issue puts a new certificate and the current roots into the identity's cache.
func (c *secrets) issue(id string, is *identitySecrets) (time.Time, error) {
	kp, err := c.issuer.IssueWorkload(id)
	if err != nil {
		return time.Time{}, err
	}
	err = is.cache.UpdateResources(map[string]types.Resource{
		SecretWorkload: workloadSecret(kp),
		SecretRootCA:   rootSecret(c.issuer.RootPEM()),
	}, nil)
	return kp.RenewAt, err
}

// schedule renews the identity's certificate at after, or forgets the identity if no
// stream watched it since the last renewal.
func (c *secrets) schedule(id string, is *identitySecrets, after time.Duration) {
	is.timer = time.AfterFunc(after, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.byID[id] != is {
			return
		}
		if is.watches == 0 && !is.watched {
			delete(c.byID, id)
			return
		}
		is.watched = is.watches > 0
		renewAt, err := c.issue(id, is)
		if err != nil {
			c.log.Error(err, "renewing a workload certificate failed; retrying", "identity", id)
			c.schedule(id, is, c.retry)
			return
		}
		c.log.Info("renewed a workload certificate", "identity", id, "renewAt", renewAt.Format(time.RFC3339))
		c.schedule(id, is, time.Until(renewAt))
	})
}

func workloadSecret(kp ca.WorkloadKeyPair) *tlsv3.Secret {
	return &tlsv3.Secret{Name: SecretWorkload, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
		CertificateChain: inlineBytes(kp.ChainPEM),
		PrivateKey:       inlineBytes(kp.KeyPEM),
	}}}
}

func rootSecret(rootPEM []byte) *tlsv3.Secret {
	return &tlsv3.Secret{Name: SecretRootCA, Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
		TrustedCa: inlineBytes(rootPEM),
	}}}
}

func inlineBytes(b []byte) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: b}}
}
