package translate

import (
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
	securityv1 "github.com/meshd-io/meshd/api/security/v1"
	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/model"
)

// Incremental translates successive snapshots of one mesh. When only Services,
// VirtualServices and DestinationRules changed, it translates again only the services
// the change can reach and the objects that route or shape them; every other service
// is carried over from the previous IR as the same *ir.Service, and every other
// object keeps its report. Its output is always what Translate gives for the same
// snapshot (a property test checks it), and carried services let generators reuse
// what they rendered for them.
//
// What a change reaches is closed over the dependencies translation has: an object
// that routes or shapes a reached host is translated again, and so is every host it
// routes or shapes, and a VirtualService whose destinations name a reached host (its
// status says whether they resolve). Security policies are translated again only when
// they changed, and Gateway API objects and Sidecars in full on every pass. Whatever
// the closure does not follow makes the pass a full translation: HTTP and gRPC routes
// (they can join services' route tables), delegate VirtualServices, a changed Mesh or
// cluster domain, and objects whose translation failed.
//
// Incremental is not safe for concurrent use; the IR it returns must not be mutated.
type Incremental struct {
	prev   *model.Snapshot
	out    *ir.IR
	report *Report
	// full is set when the next pass must be a full translation whatever changes:
	// the previous snapshot had what the closure does not follow, or an object's
	// translation failed.
	full bool
	// vsDeps and drDeps are the dependencies of prev's VirtualServices and
	// DestinationRules, index by index (nil when not worked out).
	vsDeps, drDeps []*dependent
	// deps indexes vsDeps and drDeps by host (nil with them).
	deps *depIndex
	// services are the previous IR's services by hostname (nil: not indexed yet).
	services map[string]*ir.Service
	// policies are the last restricted pass's security policy translations.
	policies policyMemo
	// waypoints is prev's waypointInputs: services carry their waypoint only while
	// it is unchanged.
	waypoints string
}

// policyMemo keeps what security policies translated to: a policy's translation
// depends on nothing but the object and the Mesh (which a restricted pass has
// unchanged), so an unchanged policy keeps its IR.
type policyMemo struct {
	authz map[objectKeyT]translated[*ir.AuthzPolicy]
	peer  map[objectKeyT]translated[*ir.PeerAuthn]
}

// translated is one version of an object and what it translated to (nil: invalid).
type translated[T any] struct {
	obj metav1.Object
	out T
}

// reuse returns o's translation from prev when o is the same version, else
// translates it; either way next keeps it.
func reuse[O metav1.Object, T any](prev, next map[objectKeyT]translated[T], o O, translate func(O) T) T {
	k := objectKey(o)
	if t, ok := prev[k]; ok && sameObject(t.obj, o) {
		next[k] = t
		return t.out
	}
	out := translate(o)
	next[k] = translated[T]{obj: o, out: out}
	return out
}

func (r *restriction) authzPolicy(ap *securityv1.AuthorizationPolicy, translate func(*securityv1.AuthorizationPolicy) *ir.AuthzPolicy) *ir.AuthzPolicy {
	if r == nil {
		return translate(ap)
	}
	return reuse(r.prevPolicies.authz, r.policies.authz, ap, translate)
}

func (r *restriction) peerAuthn(pa *securityv1.PeerAuthentication, translate func(*securityv1.PeerAuthentication) *ir.PeerAuthn) *ir.PeerAuthn {
	if r == nil {
		return translate(pa)
	}
	return reuse(r.prevPolicies.peer, r.policies.peer, pa, translate)
}

// Translate returns the IR and report of snap.
func (x *Incremental) Translate(snap *model.Snapshot) (*ir.IR, *Report) {
	waypoints := waypointInputs(snap)
	r := x.restrictionFor(snap, waypoints)
	if r != nil {
		t := newTranslator(snap, map[ir.ConfigRef]string{})
		t.restricted = r
		// Objects not translated again keep their reports: start from the previous
		// ones, without those of objects translated again or gone.
		t.report.Objects = maps.Clone(x.report.Objects)
		for ref := range r.objects {
			delete(t.report.Objects, ref)
		}
		for _, ref := range r.removed {
			delete(t.report.Objects, ref)
		}
		// Sidecars are translated on every pass.
		for _, sc := range x.prev.Sidecars {
			delete(t.report.Objects, sidecarRef(sc))
		}
		if out, report, bad := t.run(); bad == nil {
			x.vsDeps, x.drDeps, x.deps, x.services, x.policies = r.vsDeps, r.drDeps, r.deps, t.services, r.policies
			return x.keep(snap, waypoints, out, report, false)
		}
	}
	// Objects whose translation failed are left out by a full translation only.
	out, report, failed := translateContained(snap)
	x.vsDeps, x.drDeps, x.deps, x.services, x.policies = nil, nil, nil, nil, policyMemo{}
	if r != nil {
		x.vsDeps, x.drDeps, x.deps = r.vsDeps, r.drDeps, r.deps
	}
	return x.keep(snap, waypoints, out, report, failed)
}

func (x *Incremental) keep(snap *model.Snapshot, waypoints string, out *ir.IR, report *Report, failed bool) (*ir.IR, *Report) {
	x.prev, x.out, x.report, x.full = snap, out, report, failed || needsFull(snap)
	x.waypoints = waypoints
	return out, report
}

// errCarried aborts a restricted translation that would change a carried service.
var errCarried = errors.New("restricted translation reached a carried service")

// restriction is what a restricted translation translates: the hosts whose services
// are built anew (the rest are carried from prev) and the objects translated again.
type restriction struct {
	hosts   map[string]bool
	objects map[ir.ConfigRef]bool
	prev    map[string]*ir.Service
	// order is the previous IR's services, by hostname.
	order []*ir.Service
	// removed are objects prev had and the snapshot has not.
	removed []ir.ConfigRef
	// vsDeps and drDeps are the snapshot's objects' dependencies, for the next pass,
	// and deps indexes them.
	vsDeps, drDeps []*dependent
	deps           *depIndex
	// stale are the dependencies of prev's versions of changed and removed objects,
	// fresh those of the snapshot's changed and new objects.
	stale, fresh []*dependent
	// prevPolicies are the last pass's policy translations; policies this pass's.
	prevPolicies, policies policyMemo
}

// skips reports whether an object keeps its previous translation.
func (r *restriction) skips(ref ir.ConfigRef) bool { return r != nil && !r.objects[ref] }

// mutating guards carried services: the previous IR is being served and must not
// change. Reaching one means the dependency closure missed something; the restricted
// translation is then abandoned for a full one.
func (r *restriction) mutating(svc *ir.Service) {
	if r != nil && !r.hosts[svc.Hostname] {
		panic(errCarried)
	}
}

// restrictionFor works out what of snap must be translated again, or nil when it
// must all be; waypoints is snap's waypointInputs.
func (x *Incremental) restrictionFor(snap *model.Snapshot, waypoints string) *restriction {
	prev := x.prev
	if prev == nil || x.full || needsFull(snap) || prev.ClusterDomain != snap.ClusterDomain || !reflect.DeepEqual(prev.Mesh, snap.Mesh) ||
		waypoints != x.waypoints {
		return nil
	}
	if x.services == nil {
		x.services = make(map[string]*ir.Service, len(x.out.Services))
		for _, s := range x.out.Services {
			x.services[s.Hostname] = s
		}
	}
	r := &restriction{hosts: map[string]bool{}, objects: map[ir.ConfigRef]bool{}, prev: x.services, order: x.out.Services,
		prevPolicies: x.policies, policies: policyMemo{
			authz: make(map[objectKeyT]translated[*ir.AuthzPolicy], len(snap.AuthorizationPolicies)),
			peer:  make(map[objectKeyT]translated[*ir.PeerAuthn], len(snap.PeerAuthentications)),
		}}
	// Patterns expand against every hostname either snapshot knows.
	known := knownHosts{snap.Services, prev.Services}
	count := len(snap.Services)
	for h, s := range snap.Services {
		if old := prev.Services[h]; old == nil || !sameService(old, s) {
			r.hosts[h] = true
		}
	}
	for h := range prev.Services {
		if snap.Services[h] == nil {
			r.hosts[h] = true
			count++
		}
	}
	vsDep := func(vs *networkingv1.VirtualService) *dependent { return vsDependent(vs, snap.ClusterDomain) }
	drDep := func(dr *networkingv1.DestinationRule) *dependent { return drDependent(dr, snap.ClusterDomain) }
	if x.deps == nil {
		// The first restricted pass after a full translation works out prev's
		// dependencies and indexes them; later passes keep both up to date.
		x.vsDeps, x.drDeps = dependents(prev.VirtualServices, vsDep), dependents(prev.DestinationRules, drDep)
		x.deps = newDepIndex(x.vsDeps, x.drDeps)
	}
	// reached are the hosts not yet followed to the objects that touch them.
	var reached []string
	reach := func(h string) {
		if !r.hosts[h] {
			r.hosts[h] = true
			reached = append(reached, h)
		}
	}
	seed := func(d *dependent) {
		for _, p := range d.patterns {
			known.expand(p, reach)
		}
	}
	// Changed, added and removed objects: both versions' hosts are reached.
	r.vsDeps = changedObjects(prev.VirtualServices, x.vsDeps, snap.VirtualServices, vsDep, r, seed)
	r.drDeps = changedObjects(prev.DestinationRules, x.drDeps, snap.DestinationRules, drDep, r, seed)
	// Close over dependencies: an unchanged object that touches a reached host is
	// translated again, and everything it routes or shapes is reached with it. The
	// index of prev's dependencies leads from each reached host to the objects that
	// touch it, so the work grows with what is reached, not with the mesh.
	stale := make(map[*dependent]bool, len(r.stale))
	for _, d := range r.stale {
		stale[d] = true
	}
	reached = reached[:0] // from here, every host reached so far, once
	for h := range r.hosts {
		reached = append(reached, h)
	}
	for len(reached) > 0 {
		h := reached[len(reached)-1]
		reached = reached[:len(reached)-1]
		x.deps.touching(h, func(d *dependent) {
			if !stale[d] && !r.objects[d.ref] {
				r.objects[d.ref] = true
				seed(d)
			}
		})
	}
	x.deps.update(r.stale, r.fresh)
	r.deps = x.deps
	if len(r.hosts) == count {
		return nil // everything is reached: a full translation costs the same
	}
	return r
}

// changedObjects marks the objects of one kind that are new or changed in cur for
// translation, seeds the hosts of both their versions (and of removed objects), and
// notes the dependencies that leave the index (r.stale) and join it (r.fresh). It
// returns cur's dependencies, index by index; prevDeps are prev's: an unchanged
// object keeps its dependent.
//
// Both lists are sorted oldest first (model.OldestFirst), so one merging walk pairs
// an object's two versions without an index.
func changedObjects[T metav1.Object](prev []T, prevDeps []*dependent, cur []T, dep func(T) *dependent,
	r *restriction, seed func(*dependent)) []*dependent {
	curDeps := make([]*dependent, len(cur))
	i, j := 0, 0
	for i < len(prev) || j < len(cur) {
		c := 1 // prev[i] is gone
		switch {
		case i == len(prev):
			c = -1 // cur[j] is new
		case j < len(cur) && metav1.Object(cur[j]) == metav1.Object(prev[i]):
			c = 0 // the same object, as the snapshot carries most over
		case j < len(cur):
			c = model.CompareAge(cur[j], prev[i])
		}
		switch {
		case c > 0:
			r.removed = append(r.removed, prevDeps[i].ref)
			r.stale = append(r.stale, prevDeps[i])
			seed(prevDeps[i])
			i++
			continue
		case c == 0 && sameObject(prev[i], cur[j]):
			curDeps[j] = prevDeps[i]
		default:
			curDeps[j] = dep(cur[j])
			r.objects[curDeps[j].ref] = true
			r.fresh = append(r.fresh, curDeps[j])
			seed(curDeps[j])
			if c == 0 {
				r.stale = append(r.stale, prevDeps[i])
				seed(prevDeps[i])
			}
		}
		if c == 0 {
			i++
		}
		j++
	}
	return curDeps
}

// dependents are the dependencies of objs, index by index.
func dependents[T any](objs []T, dep func(T) *dependent) []*dependent {
	out := make([]*dependent, len(objs))
	for i, o := range objs {
		out[i] = dep(o)
	}
	return out
}

// dependent is what an object's translation touches: the host patterns it routes or
// shapes, and the hosts whose services it only reads (route destinations).
type dependent struct {
	ref      ir.ConfigRef
	patterns []string
	reads    []string
}

// knownHosts are the hostnames of two snapshots' services.
type knownHosts [2]map[string]*model.Service

// expand calls add with every known host pattern names.
func (k knownHosts) expand(pattern string, add func(string)) {
	for _, m := range k {
		if !strings.HasPrefix(pattern, "*") {
			if m[pattern] != nil {
				add(pattern)
			}
			continue
		}
		for h := range m {
			if ir.HostMatches(pattern, h) {
				add(h)
			}
		}
	}
}

func vsDependent(vs *networkingv1.VirtualService, domain string) *dependent {
	d := &dependent{ref: ir.ConfigRef{Kind: "VirtualService", Namespace: vs.Namespace, Name: vs.Name}}
	for _, h := range vs.Spec.Hosts {
		d.patterns = append(d.patterns, resolveHost(h, vs.Namespace, domain))
	}
	read := func(dest networkingv1.Destination) {
		d.reads = append(d.reads, resolveHost(dest.Host, vs.Namespace, domain))
	}
	for i := range vs.Spec.HTTP {
		r := &vs.Spec.HTTP[i]
		for _, rd := range r.Route {
			read(rd.Destination)
		}
		if r.Mirror != nil {
			read(*r.Mirror)
		}
		for _, m := range r.Mirrors {
			read(m.Destination)
		}
	}
	for _, r := range vs.Spec.TCP {
		for _, rd := range r.Route {
			read(rd.Destination)
		}
	}
	for _, r := range vs.Spec.TLS {
		for _, rd := range r.Route {
			read(rd.Destination)
		}
	}
	return d
}

func drDependent(dr *networkingv1.DestinationRule, domain string) *dependent {
	return &dependent{ref: ir.ConfigRef{Kind: "DestinationRule", Namespace: dr.Namespace, Name: dr.Name},
		patterns: []string{resolveHost(dr.Spec.Host, dr.Namespace, domain)}}
}

// needsFull reports whether a snapshot has what the closure does not follow.
func needsFull(s *model.Snapshot) bool { return joinsServiceRoutes(s) || hasDelegates(s) }

// joinsServiceRoutes reports whether Gateway API routes may join services' route
// tables (GAMMA): their attachment is not tracked per host, so such meshes are
// translated in full.
func joinsServiceRoutes(s *model.Snapshot) bool {
	return len(s.GatewayAPI.HTTPRoutes)+len(s.GatewayAPI.GRPCRoutes) > 0
}

// hasDelegates reports whether some VirtualService is or uses a delegate: a root's
// routes depend on another object by name, which the closure does not follow.
func hasDelegates(s *model.Snapshot) bool {
	for _, vs := range s.VirtualServices {
		if len(vs.Spec.Hosts) == 0 {
			return true
		}
		for i := range vs.Spec.HTTP {
			if vs.Spec.HTTP[i].Delegate != nil {
				return true
			}
		}
	}
	return false
}

type objectKeyT struct{ namespace, name string }

func objectKey(o metav1.Object) objectKeyT { return objectKeyT{o.GetNamespace(), o.GetName()} }

// sameObject reports whether two objects are one version of one object: the same
// pointer, or the same UID and resourceVersion as the API server stores them.
func sameObject(a, b metav1.Object) bool {
	if a == b {
		return true
	}
	return a.GetResourceVersion() != "" && a.GetResourceVersion() == b.GetResourceVersion() && a.GetUID() == b.GetUID()
}

// serviceFields is model.Service's field list: sameService compares them all, and
// this conversion stops compiling when a field is added without it.
type serviceFields struct {
	Name, Namespace string
	Hostname        string
	ClusterIP       string
	Ports           []model.ServicePort
	ExportTo        []string

	UseWaypoint, UseWaypointNamespace string
}

var _ = serviceFields(model.Service{})

func sameService(a, b *model.Service) bool {
	return a == b || (a.Name == b.Name && a.Namespace == b.Namespace && a.Hostname == b.Hostname && a.ClusterIP == b.ClusterIP &&
		slices.Equal(a.Ports, b.Ports) && slices.Equal(a.ExportTo, b.ExportTo) &&
		a.UseWaypoint == b.UseWaypoint && a.UseWaypointNamespace == b.UseWaypointNamespace)
}
