// Package xds serves the generated config to proxies over ADS with go-control-plane.
// Config is generated once per proxy class and scope (the client's namespace) and each
// resource is marshalled once: every proxy of a scope reads the same LinearCache
// entries, so a push costs what changed, not the number of proxies.
package xds

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/go-logr/logr"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/model"
	"github.com/meshd-io/meshd/internal/xds/grpcgen"
	"github.com/meshd-io/meshd/internal/xds/render"
	"github.com/meshd-io/meshd/internal/xds/sidecargen"
)

// typeURLs are the resource types meshd serves, in the order xDS clients need them.
var typeURLs = []string{resourcev3.ListenerType, resourcev3.RouteType, resourcev3.ClusterType, resourcev3.EndpointType}

// generators render each proxy class's config.
var generators = map[string]struct {
	generate func(*ir.IR, render.Scope) *render.Resources
	flavor   render.Flavor
}{
	ClassGRPC:    {grpcgen.Generate, render.Proxyless},
	ClassSidecar: {sidecargen.Generate, render.Envoy},
}

// Server holds the current IR and endpoints and one set of caches per scope.
type Server struct {
	log logr.Logger

	mu        sync.Mutex
	ir        *ir.IR
	endpoints model.EndpointIndex
	scopes    map[nodeInfo]*scope
	ready     chan struct{}
	readyOnce sync.Once

	tracker *Tracker
}

// scope is the config of one class and namespace: a LinearCache per type, the hash of
// each resource's bytes (to send only what changed), and the EDS clusters it uses.
type scope struct {
	caches map[string]*cachev3.LinearCache
	// version mirrors each LinearCache's version counter: one step per update.
	version map[string]uint64
	hashes  map[string]map[string][32]byte
	eds     []render.EDSCluster
}

// NewServer returns a server with no config; it serves once Update has been called.
func NewServer(log logr.Logger) *Server {
	return &Server{log: log, scopes: map[nodeInfo]*scope{}, ready: make(chan struct{}), tracker: NewTracker()}
}

// Tracker reports connected proxies and their ACKs and NACKs.
func (s *Server) Tracker() *Tracker { return s.tracker }

// Ready is closed once the first config is in place.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Update publishes a new IR to every scope, sending only resources whose bytes changed.
func (s *Server) Update(in *ir.IR) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ir = in
	for info, sc := range s.scopes {
		s.regenerate(info, sc)
	}
	s.readyOnce.Do(func() { close(s.ready) })
	s.tracker.signal() // proxies are now behind the new config
}

// UpdateEndpoints is the EDS fast path: it re-renders only ClusterLoadAssignments.
func (s *Server) UpdateEndpoints(idx model.EndpointIndex) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endpoints = idx
	for info, sc := range s.scopes {
		s.publish(info, sc, resourcev3.EndpointType, endpointResources(info.Class, sc.eds, idx))
	}
}

func endpointResources(class string, eds []render.EDSCluster, idx model.EndpointIndex) map[string]types.Resource {
	out := map[string]types.Resource{}
	for _, cla := range render.Endpoints(eds, idx, generators[class].flavor) {
		out[cla.ClusterName] = cla
	}
	return out
}

// regenerate renders a scope's config from the current IR and publishes it.
func (s *Server) regenerate(info nodeInfo, sc *scope) {
	if s.ir == nil {
		return
	}
	res := generators[info.Class].generate(s.ir, render.Scope{Namespace: info.Namespace})
	sc.eds = res.EDS
	byType := map[string]map[string]types.Resource{
		resourcev3.ListenerType: {}, resourcev3.RouteType: {}, resourcev3.ClusterType: {},
	}
	for _, l := range res.Listeners {
		byType[resourcev3.ListenerType][l.Name] = l
	}
	for _, r := range res.Routes {
		byType[resourcev3.RouteType][r.Name] = r
	}
	for _, c := range res.Clusters {
		byType[resourcev3.ClusterType][c.Name] = c
	}
	byType[resourcev3.EndpointType] = endpointResources(info.Class, res.EDS, s.endpoints)
	for _, t := range typeURLs {
		s.publish(info, sc, t, byType[t])
	}
}

// publish hands a type's resources to its cache: new or changed (by marshalled bytes)
// ones are updated, missing ones deleted. A resource that fails validation is not
// published; the proxy keeps the last good version.
func (s *Server) publish(info nodeInfo, sc *scope, typeURL string, resources map[string]types.Resource) {
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
				s.log.Error(err, "generated resource is invalid; keeping the last good version", "type", typeURL, "name", name, "namespace", info.Namespace)
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

// scopeFor returns (creating and filling on first use) the caches of a node's scope.
func (s *Server) scopeFor(info nodeInfo) *scope {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sc := s.scopes[info]; sc != nil {
		return sc
	}
	sc := &scope{caches: map[string]*cachev3.LinearCache{}, hashes: map[string]map[string][32]byte{}, version: map[string]uint64{}}
	for _, t := range typeURLs {
		sc.caches[t] = cachev3.NewLinearCache(t, cachev3.WithVersionPrefix(versionPrefix(info)))
	}
	s.scopes[info] = sc
	s.regenerate(info, sc)
	return sc
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
		info := p.info
		sc := s.scopes[info]
		if sc == nil {
			continue
		}
		pp := ProxyProgress{NodeID: p.NodeID, Namespace: info.Namespace, UpToDate: true}
		prefix := versionPrefix(info)
		for _, t := range p.Subscribed {
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

// WarmScope creates a scope's caches before any proxy of it connects (benchmarks and
// tests use it; proxies create their scope on first request).
func (s *Server) WarmScope(class, namespace string) {
	s.scopeFor(nodeInfo{Class: class, Namespace: namespace})
}

func (s *Server) cacheFor(info nodeInfo, typeURL string) (cachev3.Cache, error) {
	if _, ok := generators[info.Class]; !ok {
		return nil, fmt.Errorf("proxy class %q is not served", info.Class)
	}
	c := s.scopeFor(info).caches[typeURL]
	if c == nil {
		return nil, fmt.Errorf("resource type %s is not served", typeURL)
	}
	return c, nil
}

// CreateWatch implements go-control-plane's cache for state-of-the-world streams.
//
// A NACK carries the last version the proxy accepted, which is empty when it rejected
// its very first config; the LinearCache answers such a request with everything at
// once, which the proxy rejects again, in a tight loop. The proxy keeps its last good
// config, so a NACK is turned into a watch for the next change instead.
func (s *Server) CreateWatch(req *cachev3.Request, sub cachev3.Subscription, ch chan cachev3.Response) (func(), error) {
	info := parseNode(req.GetNode())
	c, err := s.cacheFor(info, req.GetTypeUrl())
	if err != nil {
		return nil, err
	}
	if req.GetErrorDetail() != nil {
		req = proto.Clone(req).(*cachev3.Request)
		req.VersionInfo = versionPrefix(info) + "nacked"
	}
	return c.CreateWatch(req, sub, ch)
}

// versionPrefix starts every version a scope's caches give out.
func versionPrefix(info nodeInfo) string { return info.Class + "/" + info.Namespace + "/" }

// CreateDeltaWatch implements go-control-plane's cache for incremental streams.
func (s *Server) CreateDeltaWatch(req *cachev3.DeltaRequest, sub cachev3.Subscription, ch chan cachev3.DeltaResponse) (func(), error) {
	c, err := s.cacheFor(parseNode(req.GetNode()), req.GetTypeUrl())
	if err != nil {
		return nil, err
	}
	return c.CreateDeltaWatch(req, sub, ch)
}

// Fetch (REST xDS) is not served.
func (s *Server) Fetch(context.Context, *cachev3.Request) (cachev3.Response, error) {
	return nil, errors.New("fetch is not supported; use ADS")
}

// Serve waits for the first config, then serves ADS on l until ctx ends.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	select {
	case <-s.ready:
	case <-ctx.Done():
		return nil
	}
	gs := grpc.NewServer()
	xs := serverv3.NewServer(ctx, s, s.tracker.callbacks(s.log))
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(gs, xs)
	go func() {
		<-ctx.Done()
		gs.GracefulStop()
	}()
	s.log.Info("serving xDS", "address", l.Addr().String())
	if err := gs.Serve(l); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}
