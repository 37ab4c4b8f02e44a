package translate

import (
	"errors"
	"reflect"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
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
// status says whether they resolve). Anything else (Gateway API routes, which can join
// services' route tables, delegate VirtualServices, the Mesh, security policies'
// inputs are translated in full each time or fall back to Translate.
//
// Incremental is not safe for concurrent use; the IR it returns must not be mutated.
type Incremental struct {
	prev   *model.Snapshot
	out    *ir.IR
	report *Report
	failed bool
}

// Translate returns the IR and report of snap.
func (x *Incremental) Translate(snap *model.Snapshot) (*ir.IR, *Report) {
	if r := x.restrictionFor(snap); r != nil {
		t := newTranslator(snap, map[ir.ConfigRef]string{})
		t.restricted = r
		if out, report, bad := t.run(); bad == nil {
			x.carryReports(snap, report, r)
			return x.keep(snap, out, report, false)
		}
	}
	// Objects whose translation failed are left out by a full translation only.
	out, report, failed := translateContained(snap)
	return x.keep(snap, out, report, failed)
}

func (x *Incremental) keep(snap *model.Snapshot, out *ir.IR, report *Report, failed bool) (*ir.IR, *Report) {
	x.prev, x.out, x.report, x.failed = snap, out, report, failed
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
}

// carried is the previous IR's service for host when the restriction carries it over.
func (r *restriction) carried(host string) *ir.Service {
	if r == nil || r.hosts[host] {
		return nil
	}
	return r.prev[host]
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

// carryReports gives every object the restricted translation skipped its previous
// report: its inputs, and those of everything it depends on, are unchanged.
func (x *Incremental) carryReports(snap *model.Snapshot, report *Report, r *restriction) {
	carry := func(ref ir.ConfigRef) {
		if _, ok := report.Objects[ref]; !ok && !r.objects[ref] {
			if o := x.report.Objects[ref]; o != nil {
				report.Objects[ref] = o
			}
		}
	}
	for _, vs := range snap.VirtualServices {
		carry(ir.ConfigRef{Kind: "VirtualService", Namespace: vs.Namespace, Name: vs.Name})
	}
	for _, dr := range snap.DestinationRules {
		carry(ir.ConfigRef{Kind: "DestinationRule", Namespace: dr.Namespace, Name: dr.Name})
	}
}

// restrictionFor works out what of snap must be translated again, or nil when it
// must all be.
func (x *Incremental) restrictionFor(snap *model.Snapshot) *restriction {
	prev := x.prev
	if prev == nil || x.failed || prev.ClusterDomain != snap.ClusterDomain || !reflect.DeepEqual(prev.Mesh, snap.Mesh) ||
		joinsServiceRoutes(prev) || joinsServiceRoutes(snap) || hasDelegates(prev) || hasDelegates(snap) {
		return nil
	}
	r := &restriction{hosts: map[string]bool{}, objects: map[ir.ConfigRef]bool{}, prev: make(map[string]*ir.Service, len(x.out.Services))}
	for _, s := range x.out.Services {
		r.prev[s.Hostname] = s
	}
	// Every hostname either snapshot knows: patterns expand against these.
	known := make(map[string]bool, len(snap.Services))
	for h, s := range snap.Services {
		known[h] = true
		if old := prev.Services[h]; old == nil || !sameService(old, s) {
			r.hosts[h] = true
		}
	}
	for h := range prev.Services {
		if !known[h] {
			known[h], r.hosts[h] = true, true
		}
	}
	var pending []dependent
	seed := func(d dependent) {
		for _, p := range d.patterns {
			expand(p, known, r.hosts)
		}
	}
	// Changed, added and removed objects: both versions' hosts are reached.
	oldVS := byKey(prev.VirtualServices)
	for _, vs := range snap.VirtualServices {
		d := vsDependent(vs, snap.ClusterDomain)
		if old, ok := oldVS[objectKey(vs)]; !ok || !sameObject(old, vs) {
			r.objects[d.ref] = true
			seed(d)
			if ok {
				seed(vsDependent(old, snap.ClusterDomain))
			}
		} else {
			pending = append(pending, d)
		}
		delete(oldVS, objectKey(vs))
	}
	for _, vs := range oldVS {
		seed(vsDependent(vs, snap.ClusterDomain))
	}
	oldDR := byKey(prev.DestinationRules)
	for _, dr := range snap.DestinationRules {
		d := drDependent(dr, snap.ClusterDomain)
		if old, ok := oldDR[objectKey(dr)]; !ok || !sameObject(old, dr) {
			r.objects[d.ref] = true
			seed(d)
			if ok {
				seed(drDependent(old, snap.ClusterDomain))
			}
		} else {
			pending = append(pending, d)
		}
		delete(oldDR, objectKey(dr))
	}
	for _, dr := range oldDR {
		seed(drDependent(dr, snap.ClusterDomain))
	}
	// Close over dependencies: an unchanged object that touches a reached host is
	// translated again, and everything it routes or shapes is reached with it.
	for grew := true; grew; {
		grew = false
		rest := pending[:0]
		for _, d := range pending {
			if !d.reaches(r.hosts) {
				rest = append(rest, d)
				continue
			}
			r.objects[d.ref], grew = true, true
			seed(d)
		}
		pending = rest
	}
	if len(r.hosts) == len(known) {
		return nil // everything is reached: a full translation costs the same
	}
	return r
}

// dependent is what an object's translation touches: the host patterns it routes or
// shapes, and the hosts whose services it only reads (route destinations).
type dependent struct {
	ref      ir.ConfigRef
	patterns []string
	reads    []string
}

func (d dependent) reaches(hosts map[string]bool) bool {
	for _, h := range d.reads {
		if hosts[h] {
			return true
		}
	}
	for _, p := range d.patterns {
		if !strings.HasPrefix(p, "*") {
			if hosts[p] {
				return true
			}
			continue
		}
		for h := range hosts {
			if matchesPattern(p, h) {
				return true
			}
		}
	}
	return false
}

// expand adds to hosts every known host pattern names.
func expand(pattern string, known, hosts map[string]bool) {
	if !strings.HasPrefix(pattern, "*") {
		if known[pattern] {
			hosts[pattern] = true
		}
		return
	}
	for h := range known {
		if matchesPattern(pattern, h) {
			hosts[h] = true
		}
	}
}

// matchesPattern is matchingServices' rule for a wildcard host.
func matchesPattern(pattern, host string) bool {
	return pattern == "*" || strings.HasSuffix(host, pattern[1:])
}

func vsDependent(vs *networkingv1.VirtualService, domain string) dependent {
	d := dependent{ref: ir.ConfigRef{Kind: "VirtualService", Namespace: vs.Namespace, Name: vs.Name}}
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

func drDependent(dr *networkingv1.DestinationRule, domain string) dependent {
	return dependent{ref: ir.ConfigRef{Kind: "DestinationRule", Namespace: dr.Namespace, Name: dr.Name},
		patterns: []string{resolveHost(dr.Spec.Host, dr.Namespace, domain)}}
}

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

func byKey[T metav1.Object](objs []T) map[objectKeyT]T {
	out := make(map[objectKeyT]T, len(objs))
	for _, o := range objs {
		out[objectKey(o)] = o
	}
	return out
}

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
}

var _ = serviceFields(model.Service{})

func sameService(a, b *model.Service) bool {
	return a == b || (a.Name == b.Name && a.Namespace == b.Namespace && a.Hostname == b.Hostname && a.ClusterIP == b.ClusterIP &&
		slices.Equal(a.Ports, b.Ports) && slices.Equal(a.ExportTo, b.ExportTo))
}
