package ca

import (
	"context"
	"errors"
	"time"

	"github.com/go-logr/logr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	securityv1alpha1 "istio.io/api/security/v1alpha1"
)

// Service is Istio's IstioCertificateService (istio.v1.auth): the agent in every
// injected pod sends a CSR with its service-account token and gets back
// [leaf, intermediates..., root]. It is served next to xDS on the mTLS port (15012).
type Service struct {
	securityv1alpha1.UnimplementedIstioCertificateServiceServer
	ca   *Authority
	auth Authenticator
	log  logr.Logger
}

// NewService answers certificate requests with a, once auth has established the
// caller's service account.
func NewService(a *Authority, auth Authenticator, log logr.Logger) *Service {
	return &Service{ca: a, auth: auth, log: log}
}

// Register adds the service to s.
func (s *Service) Register(g *grpc.Server) {
	securityv1alpha1.RegisterIstioCertificateServiceServer(g, s)
}

// CreateCertificate signs the request's CSR for the caller's own SPIFFE identity, for
// the requested validity capped at WorkloadTTL.
func (s *Service) CreateCertificate(ctx context.Context, req *securityv1alpha1.IstioCertificateRequest) (*securityv1alpha1.IstioCertificateResponse, error) {
	caller, err := s.auth.Authenticate(ctx)
	if err != nil {
		if _, ok := status.FromError(err); !ok {
			err = status.Error(codes.Unauthenticated, err.Error())
		}
		s.log.V(1).Info("certificate request not authenticated", "error", err)
		return nil, err
	}
	identity := s.ca.Identity(caller.Namespace, caller.ServiceAccount)
	ttl := s.ca.WorkloadTTL()
	// Compared in seconds: a huge request would overflow a Duration.
	if v := req.GetValidityDuration(); v > 0 && v < int64(ttl/time.Second) {
		ttl = time.Duration(v) * time.Second
	}
	chain, err := s.ca.Sign([]byte(req.GetCsr()), identity, ttl)
	switch {
	case errors.Is(err, ErrIdentityMismatch):
		// A workload asking for someone else's identity is worth an operator's look.
		s.log.Info("refused a certificate for another identity", "caller", identity, "error", err.Error())
		return nil, status.Error(codes.PermissionDenied, err.Error())
	case errors.Is(err, ErrBadCSR):
		return nil, status.Error(codes.InvalidArgument, err.Error())
	case err != nil:
		s.log.Error(err, "signing failed", "identity", identity)
		return nil, status.Error(codes.Internal, err.Error())
	}
	s.log.V(1).Info("signed workload certificate", "identity", identity, "ttl", ttl)
	return &securityv1alpha1.IstioCertificateResponse{CertChain: chain}, nil
}
