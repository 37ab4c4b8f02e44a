// Package translate turns a model.Snapshot into the IR proxies are generated from, and
// a status report for every Istio object it read. It is pure: no client, no clock, no
// I/O; it never mutates its input; output is sorted.
package translate

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/model"
)

// Translate builds the IR and the status report of a snapshot.
//
// A panic while translating one object is contained: that object is reported as not
// accepted (with the panic's message, which is meshd's bug to fix) and translation runs
// again without it, so one object can never take the rest of the mesh down or put
// the control plane in a crash loop. A panic outside any object's translation is
// re-raised.
func Translate(snap *model.Snapshot) (*ir.IR, *Report) {
	out, report, _ := translateContained(snap)
	return out, report
}

// translateContained is Translate, saying also whether some object's translation
// failed.
func translateContained(snap *model.Snapshot) (*ir.IR, *Report, bool) {
	failed := map[ir.ConfigRef]string{}
	for {
		out, report, bad := translateOnce(snap, failed)
		if bad == nil {
			for ref, msg := range failed {
				rep := report.object(ref, failedGeneration(snap, ref))
				rep.Invalid = field.ErrorList{field.InternalError(field.NewPath("spec"), fmt.Errorf("translation failed (a meshd bug): %s", msg))}
			}
			return out, report, len(failed) > 0
		}
		failed[bad.ref] = bad.msg
	}
}

// failure is an object whose translation panicked, or (abort) a restricted translation
// that would have had to change a service it carries over unchanged.
type failure struct {
	ref   ir.ConfigRef
	msg   string
	abort bool
}

// panicHook, when set (by tests), runs as each object's translation starts.
var panicHook func(ir.ConfigRef)

func translateOnce(snap *model.Snapshot, failed map[ir.ConfigRef]string) (out *ir.IR, report *Report, bad *failure) {
	return newTranslator(snap, failed).run()
}

func newTranslator(snap *model.Snapshot, failed map[ir.ConfigRef]string) *translator {
	return &translator{
		snap:     snap,
		report:   newReport(),
		services: map[string]*ir.Service{},
		failed:   failed,
	}
}

func (t *translator) run() (out *ir.IR, report *Report, bad *failure) {
	snap := t.snap
	defer func() {
		if r := recover(); r != nil {
			if r == errCarried {
				out, report, bad = nil, nil, &failure{abort: true}
				return
			}
			if t.current == (ir.ConfigRef{}) {
				panic(r)
			}
			out, report, bad = nil, nil, &failure{ref: t.current, msg: fmt.Sprint(r)}
		}
	}()
	out = &ir.IR{RootNamespace: snap.Mesh.RootNamespace, TrustDomain: snap.Mesh.TrustDomain,
		// A policy without mode is REGISTRY_ONLY, as in Istio's mesh config.
		RegistryOnly: snap.Mesh.OutboundTrafficPolicy != nil && snap.Mesh.OutboundTrafficPolicy.Mode != string(networkingv1.OutboundAllowAny)}
	// Each phase starts with no current object, so a panic between objects is not
	// blamed on the last one.
	for _, phase := range []func(){t.addServices, t.destinationRules, t.virtualServices, func() { t.gatewayAPI(out) }} {
		t.current = ir.ConfigRef{}
		phase()
	}
	out.Services = t.sortedServices()
	t.current = ir.ConfigRef{}
	t.security(out)
	t.current = ir.ConfigRef{}
	t.sidecars(out)
	t.current = ir.ConfigRef{}
	out.Finish()
	return out, t.report, nil
}

// begin marks the start of one object's translation; it reports false for objects
// whose translation failed before, which are left out.
func (t *translator) begin(ref ir.ConfigRef) bool {
	if _, ok := t.failed[ref]; ok {
		return false
	}
	t.current = ref
	if panicHook != nil {
		panicHook(ref)
	}
	return true
}

// failedGeneration is the generation of the object ref names, for its status.
func failedGeneration(snap *model.Snapshot, ref ir.ConfigRef) int64 {
	byKind := map[string][]metav1.Object{
		"VirtualService": objects(snap.VirtualServices), "DestinationRule": objects(snap.DestinationRules),
		"AuthorizationPolicy": objects(snap.AuthorizationPolicies), "PeerAuthentication": objects(snap.PeerAuthentications),
		"Sidecar": objects(snap.Sidecars),
	}
	// Kinds share names (a VirtualService and a DestinationRule are often both
	// "reviews"): match the kind too.
	for _, o := range byKind[ref.Kind] {
		if o.GetNamespace() == ref.Namespace && o.GetName() == ref.Name {
			return o.GetGeneration()
		}
	}
	return 0
}

func objects[T metav1.Object](in []T) []metav1.Object {
	out := make([]metav1.Object, len(in))
	for i, o := range in {
		out[i] = o
	}
	return out
}

type translator struct {
	snap     *model.Snapshot
	report   *Report
	services map[string]*ir.Service
	// failed are objects whose translation panicked; current is the object being
	// translated.
	failed  map[ir.ConfigRef]string
	current ir.ConfigRef
	// restricted, when set, limits translation to the services and objects a change
	// reaches; every other service is carried over from the previous IR (see
	// Incremental).
	restricted *restriction
}

// addServices turns each Kubernetes Service into IR (a restricted translation only the
// services it reaches, carrying the others over).
func (t *translator) addServices() {
	if r := t.restricted; r != nil {
		// Carry every service over, then build the reached ones anew.
		t.services = maps.Clone(r.prev)
		for h := range r.hosts {
			delete(t.services, h)
			if svc := t.snap.Services[h]; svc != nil {
				t.services[h] = newService(svc)
				t.services[h].Waypoint = t.waypointOf(svc)
			}
		}
		return
	}
	for _, svc := range t.snap.SortedServices() {
		s := newService(svc)
		s.Waypoint = t.waypointOf(svc)
		t.services[svc.Hostname] = s
	}
}

// newService is a Kubernetes Service as IR, with a default route per port: all
// traffic to the port's cluster, as Istio does when no VirtualService names the host.
func newService(svc *model.Service) *ir.Service {
	s := &ir.Service{Hostname: svc.Hostname, Namespace: svc.Namespace, ExportTo: ir.Visibility(svc.ExportTo)}
	if svc.ClusterIP != "" && svc.ClusterIP != "None" {
		s.Addresses = []string{svc.ClusterIP}
	}
	for _, p := range svc.Ports {
		s.Ports = append(s.Ports, &ir.Port{
			Number: p.Port, Name: p.Name, Protocol: string(p.Protocol),
			Default: &ir.RouteTable{Routes: []*ir.Route{{
				Name: "default",
				Forward: &ir.Forward{Destinations: []*ir.Destination{{
					Cluster: ir.ClusterName(p.Port, "", svc.Hostname), Hostname: svc.Hostname,
					Port: p.Port, Weight: 100,
				}}},
				Retry: defaultRetry(),
			}}},
		})
	}
	return s
}

// sortedServices lists the translated services by hostname. A restricted translation
// that added or removed none keeps the previous order.
func (t *translator) sortedServices() []*ir.Service {
	if r := t.restricted; r != nil && len(r.order) == len(t.services) {
		out := make([]*ir.Service, 0, len(t.services))
		for _, prev := range r.order {
			if s := t.services[prev.Hostname]; s != nil {
				out = append(out, s)
			}
		}
		if len(out) == len(t.services) {
			return out
		}
	}
	out := make([]*ir.Service, 0, len(t.services))
	for _, h := range slices.Sorted(maps.Keys(t.services)) {
		out = append(out, t.services[h])
	}
	return out
}

// resolveHost turns a host as written in an Istio object into an FQDN: a short name
// (no dots) resolves in the object's own namespace, as Istio does.
func (t *translator) resolveHost(host, namespace string) string {
	return resolveHost(host, namespace, t.snap.ClusterDomain)
}

func resolveHost(host, namespace, domain string) string {
	if host == "*" || strings.Contains(host, ".") {
		return host
	}
	return host + "." + namespace + ".svc." + domain
}

// matchingServices returns the services a (possibly wildcard) host names, sorted.
func (t *translator) matchingServices(host string) []*ir.Service {
	if !strings.HasPrefix(host, "*") {
		if s := t.services[host]; s != nil {
			return []*ir.Service{s}
		}
		return nil
	}
	var out []*ir.Service
	for _, h := range slices.Sorted(maps.Keys(t.services)) {
		if ir.HostMatches(host, h) {
			out = append(out, t.services[h])
		}
	}
	return out
}

// exportTo resolves "." to the owning namespace.
func exportTo(list []string, namespace string) ir.Visibility {
	if len(list) == 0 {
		return nil
	}
	out := make(ir.Visibility, 0, len(list))
	for _, v := range list {
		if v == "." {
			v = namespace
		}
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}
