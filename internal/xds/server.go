// Package xds serves the generated config to proxies over ADS with go-control-plane.
// Config is generated once per proxy class and scope (the client's namespace) and each
// resource is marshalled once: every proxy of a scope reads the same LinearCache
// entries, so a push costs what changed, not the number of proxies.
package xds

import (
	"context"
	"crypto/sha256"
	"errors"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/go-logr/logr"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/model"
	"github.com/meshd-io/meshd/internal/xds/render"
)

// typeURLs are the resource types meshd serves, in the order xDS clients need them.
var typeURLs = []string{resourcev3.ListenerType, resourcev3.RouteType, resourcev3.ClusterType, resourcev3.EndpointType}

// Server holds the current IR and endpoints and one set of caches per scope.
type Server struct {
	log logr.Logger

	mu        sync.Mutex
	ir        *ir.IR
	endpoints model.EndpointIndex
	scopes    map[scopeKey]*scope
	ready     chan struct{}
	readyOnce sync.Once

	// watches are the open watches of every stream, so that a proxy whose scope
	// changes (its labels now satisfy other selectors) can be moved to the new one.
	watchMu sync.Mutex
	watches map[*watchEntry]struct{}

	tracker *Tracker
	// secrets serves SDS to authenticated streams; nil until SetSecretIssuer.
	secrets *secrets
	// credentials serves Gateway certificates; nil until SetCredentialReader.
	credentials *credentialStore
}

// NewServer returns a server with no config; it serves once Update has been called.
func NewServer(log logr.Logger) *Server {
	return &Server{log: log, scopes: map[scopeKey]*scope{}, watches: map[*watchEntry]struct{}{},
		ready: make(chan struct{}), tracker: NewTracker()}
}

// Tracker reports connected proxies and their ACKs and NACKs.
func (s *Server) Tracker() *Tracker { return s.tracker }

// ServiceCount is how many services the current config has.
func (s *Server) ServiceCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ir == nil {
		return 0
	}
	return len(s.ir.Services)
}

// Ready is closed once the first config is in place.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Update publishes a new IR to every scope, sending only resources whose bytes changed,
// then moves proxies whose scope the new IR changes.
func (s *Server) Update(in *ir.IR) {
	s.mu.Lock()
	moved := !in.SameClientSignatures(s.ir)
	s.ir = in
	for _, sc := range s.scopes {
		s.regenerate(sc)
	}
	s.readyOnce.Do(func() { close(s.ready) })
	s.mu.Unlock()
	// Most pushes leave every proxy's signature as it was: only a change of the
	// selectors (or of what makes locality matter) moves proxies between scopes.
	if moved {
		s.rescope()
	}
	s.tracker.signal() // proxies are now behind the new config
}

// UpdateEndpoints is the EDS fast path: it re-renders only ClusterLoadAssignments.
func (s *Server) UpdateEndpoints(idx model.EndpointIndex) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endpoints = idx
	for _, sc := range s.scopes {
		s.publish(sc, resourcev3.EndpointType, endpointResources(sc, idx))
	}
}

func endpointResources(sc *scope, idx model.EndpointIndex) map[string]types.Resource {
	out := map[string]types.Resource{}
	for _, cla := range render.Endpoints(sc.eds, idx, generators[sc.key.Class].flavor, sc.client) {
		out[cla.ClusterName] = cla
	}
	return out
}

// publish hands a type's resources to its cache: new or changed (by marshalled bytes)
// ones are updated, missing ones deleted. A resource that fails validation is not
// published; the proxy keeps the last good version.
func (s *Server) publish(sc *scope, typeURL string, resources map[string]types.Resource) {
	old := sc.hashes[typeURL]
	next := make(map[string][32]byte, len(resources))
	changed := map[string]types.Resource{}
	for name, r := range resources {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(r)
		if err != nil {
			s.log.Error(err, "marshal", "type", typeURL, "name", name)
			continue
		}
		h := sha256.Sum256(b)
		prev, known := old[name]
		if known && prev == h {
			next[name] = h
			continue
		}
		// Only new bytes need validating: what is already published passed before.
		if v, ok := r.(interface{ ValidateAll() error }); ok {
			if err := v.ValidateAll(); err != nil {
				s.log.Error(err, "generated resource is invalid; keeping the last good version", "type", typeURL, "name", name, "scope", sc.key.String())
				if known {
					next[name] = prev
				}
				continue
			}
		}
		next[name] = h
		changed[name] = r
	}
	var deleted []string
	for name := range old {
		if _, ok := next[name]; !ok {
			deleted = append(deleted, name)
		}
	}
	sc.hashes[typeURL] = next
	if len(changed) == 0 && len(deleted) == 0 {
		return
	}
	if err := sc.caches[typeURL].UpdateResources(changed, deleted); err != nil {
		s.log.Error(err, "update cache", "type", typeURL)
	}
	sc.version[typeURL]++
}

// ProxyProgress says, for one connected proxy, whether it has acknowledged the current
// config of its scope, and what it last rejected.
type ProxyProgress struct {
	NodeID, Namespace string
	// UpToDate is true when, for every type the proxy subscribes to, it acknowledged
	// the version the server holds now.
	UpToDate bool
	// Nack is the proxy's message for the newest version it rejected, if any.
	Nack string
}

// Progress reports every connected state-of-the-world proxy against the current config.
func (s *Server) Progress() []ProxyProgress {
	proxies := s.tracker.Proxies()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ProxyProgress, 0, len(proxies))
	for _, p := range proxies {
		key := s.keyFor(p.info)
		sc := s.scopes[key]
		if sc == nil {
			continue
		}
		pp := ProxyProgress{NodeID: p.NodeID, Namespace: key.Namespace, UpToDate: true}
		prefix := key.versionPrefix()
		for _, t := range p.Subscribed {
			if t == resourcev3.SecretType {
				continue // per identity, not part of the scope's config
			}
			acked, ok := strings.CutPrefix(p.Acked[t], prefix)
			n, err := strconv.ParseUint(acked, 10, 64)
			if !ok || err != nil || n < sc.version[t] {
				pp.UpToDate = false
			}
			if nack, ok := p.Nacked[t]; ok {
				pp.Nack = nack.Message
			}
		}
		out = append(out, pp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NodeID < out[j].NodeID })
	return out
}

// Serve waits for the first config, then serves ADS on l until ctx ends.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	return s.ServeWith(ctx, l, ServeOptions{})
}

// ServeWith is Serve with the options of one port: TLS, more services, and the
// authentication that binds streams to identities and turns on SDS.
func (s *Server) ServeWith(ctx context.Context, l net.Listener, opts ServeOptions) error {
	select {
	case <-s.ready:
	case <-ctx.Done():
		return nil
	}
	gs := grpc.NewServer(opts.GRPC...)
	xs := serverv3.NewServer(ctx, s, s.tracker.callbacks(s.log))
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(gs, identityADS{AggregatedDiscoveryServiceServer: xs, identify: opts.Identify, log: s.log})
	if opts.Register != nil {
		opts.Register(gs)
	}
	go func() {
		<-ctx.Done()
		gs.GracefulStop()
	}()
	s.log.Info("serving xDS", "address", l.Addr().String(), "authenticated", opts.Identify != nil)
	if err := gs.Serve(l); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}
