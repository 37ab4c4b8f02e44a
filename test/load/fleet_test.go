package load

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshd-io/meshd/internal/testutil"
	"github.com/meshd-io/meshd/internal/testutil/adsclient"
)

// The fleet is the mesh the load test writes: Services spread over namespaces, each
// with a VirtualService and one EndpointSlice, and a DestinationRule where its routes
// name subsets. It also knows what every sidecar must hold for it.
const (
	namespaces          = 20
	services            = 10000
	endpointsPerService = 5
	servicePort         = 9080
	targetPort          = 8080
	// clusterIPEvery: one service in this many has a cluster IP, the others are
	// headless. kube-apiserver 1.37 lists every allocated IPAddress on each allocation
	// (ipallocator.createIPAddress updates its gauges with Used() and Free()), so
	// creating N ClusterIP Services costs O(N²): 10,000 of them took 3m15s on envtest
	// alone. meshd routes HTTP to a headless service as to any other (an EDS cluster
	// and a virtual host), so the mix loads meshd alike.
	clusterIPEvery = 10
	// routeConfig is the RDS name of the outbound HTTP listener on servicePort: every
	// service's virtual host is in it.
	routeConfig = "9080"
)

// routeShape is what a service's VirtualService does. The shapes are mixed over the
// fleet so that translation meets matches, subsets and splits, not only one route.
type routeShape int

const (
	plain         routeShape = iota // one route with a timeout
	headerMatch                     // a header match to subset v2, else subset v1
	weightedSplit                   // a weighted split between subsets v1 and v2
	prefixRewrite                   // a prefix match with a URI rewrite, then a default route
)

func shapeOf(i int) routeShape {
	switch i % 10 {
	case 6:
		return headerMatch
	case 7:
		return weightedSplit
	case 8, 9:
		return prefixRewrite
	}
	return plain
}

// hasSubsets: services whose routes name subsets have a DestinationRule defining them.
func (s routeShape) hasSubsets() bool { return s == headerMatch || s == weightedSplit }

var subsets = []string{"v1", "v2"}

func namespace(i int) string { return fmt.Sprintf("load-%d", i%namespaces) }
func name(i int) string      { return fmt.Sprintf("svc-%d", i) }
func fqdn(i int) string      { return name(i) + "." + namespace(i) + ".svc.cluster.local" }
func clusterName(i int, subset string) string {
	return fmt.Sprintf("outbound|%d|%s|%s", servicePort, subset, fqdn(i))
}

// What a VirtualService variant routes by: churn moves a service to a new variant, and
// each variant gives its routes other values.
func timeout(v int) time.Duration { return time.Duration(5+v) * time.Second }
func weight(v int) uint32         { return uint32(90 - v%80) }
func user(i, v int) string        { return fmt.Sprintf("user-%d-%d", i, v) }
func apiPrefix(v int) string      { return fmt.Sprintf("/api/v%d/", v) }

// maxRequests is the http2MaxRequests of a service's DestinationRule, distinct per
// service so that a cluster with another service's policy shows.
func maxRequests(i int) uint32 { return uint32(100 + i%900) }

// fleet is the state the test last wrote: per service, its VirtualService's variant
// and its endpoints' addresses. Proxies converge on it.
type fleet struct {
	variant   []int
	addresses [][]string
}

func newFleet() *fleet {
	f := &fleet{variant: make([]int, services), addresses: make([][]string, services)}
	for i := range services {
		for e := range endpointsPerService {
			f.addresses[i] = append(f.addresses[i], fmt.Sprintf("10.%d.%d.%d", 1+i/250, i%250, e+1))
		}
	}
	return f
}

func subsetServices() int {
	n := 0
	for i := range services {
		if shapeOf(i).hasSubsets() {
			n++
		}
	}
	return n
}

// objects returns the namespaces, then per service its Service, DestinationRule (if
// any), VirtualService and EndpointSlice, in the order `kubectl apply` of a service's
// manifests would create them; eps are the EndpointSlices again, by service.
func (f *fleet) objects(t testing.TB) (nss, objs []client.Object, eps []*discoveryv1.EndpointSlice) {
	for n := range namespaces {
		nss = append(nss, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace(n)}})
	}
	for i := range services {
		objs = append(objs, service(name(i), namespace(i), i%clusterIPEvery == 0))
		if shapeOf(i).hasSubsets() {
			objs = append(objs, testutil.MustDecode(t, destinationRule(i)))
		}
		eps = append(eps, endpointSlice(name(i), namespace(i), f.addresses[i]))
		objs = append(objs, testutil.MustDecode(t, virtualService(i, f.variant[i])), eps[i])
	}
	return nss, objs, eps
}

func service(name, ns string, clusterIP bool) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: servicePort, TargetPort: intstr.FromInt32(targetPort)}}}}
	if !clusterIP {
		s.Spec.ClusterIP = corev1.ClusterIPNone
	}
	return s
}

func endpointSlice(name, ns string, addresses []string) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns,
		Labels: map[string]string{discoveryv1.LabelServiceName: name}}, AddressType: discoveryv1.AddressTypeIPv4,
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(targetPort))}}}
	for _, a := range addresses {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{a}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}})
	}
	return s
}

func destinationRule(i int) string {
	return fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  host: %[1]s
  trafficPolicy: {connectionPool: {http: {http2MaxRequests: %[3]d}}}
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
`, name(i), namespace(i), maxRequests(i))
}

// virtualService is service i's VirtualService at variant v.
func virtualService(i, v int) string {
	var http string
	switch h := name(i); shapeOf(i) {
	case plain:
		http = fmt.Sprintf(`[{route: [{destination: {host: %s}}], timeout: %ds}]`, h, int(timeout(v).Seconds()))
	case headerMatch:
		http = fmt.Sprintf(`[{name: canary, match: [{headers: {end-user: {exact: %[2]s}}}], route: [{destination: {host: %[1]s, subset: v2}}]},
         {name: stable, route: [{destination: {host: %[1]s, subset: v1}}]}]`, h, user(i, v))
	case weightedSplit:
		http = fmt.Sprintf(`[{route: [{destination: {host: %[1]s, subset: v1}, weight: %[2]d}, {destination: {host: %[1]s, subset: v2}, weight: %[3]d}]}]`,
			h, weight(v), 100-weight(v))
	case prefixRewrite:
		http = fmt.Sprintf(`[{match: [{uri: {prefix: %[2]s}}], rewrite: {uri: /}, route: [{destination: {host: %[1]s}}]},
         {route: [{destination: {host: %[1]s}}]}]`, h, apiPrefix(v))
	}
	return fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: %s, namespace: %s}
spec:
  hosts: [%s]
  http: %s
`, name(i), namespace(i), name(i), http)
}

// check compares what a sidecar holds with the fleet: every service's cluster (and its
// subsets', with its DestinationRule's limit), its virtual host with the routes of its
// VirtualService's current variant, and its endpoints; and nothing more (services
// created and deleted meanwhile are gone). It returns how many services differ and the
// first difference.
func (f *fleet) check(st adsclient.State) error {
	if len(st.Nacks) > 0 {
		return fmt.Errorf("the proxy rejected config: %v", st.Nacks)
	}
	rc := st.Routes[routeConfig]
	if rc == nil {
		return fmt.Errorf("no route configuration %q", routeConfig)
	}
	vhosts := make(map[string]*routev3.VirtualHost, len(rc.GetVirtualHosts()))
	for _, vh := range rc.GetVirtualHosts() {
		vhosts[vh.GetName()] = vh
	}
	var bad int
	var first error
	for i := range services {
		if err := f.checkService(st, vhosts, i); err != nil {
			if bad++; first == nil {
				first = fmt.Errorf("%s: %w", fqdn(i), err)
			}
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d services differ; first: %w", bad, services, first)
	}
	// Outbound clusters of the fleet's namespaces (the API server's own Service,
	// default/kubernetes, has one too).
	outbound := 0
	for n := range st.Clusters {
		if strings.HasPrefix(n, "outbound|") && strings.Contains(n, ".load-") {
			outbound++
		}
	}
	if want := services + len(subsets)*subsetServices(); outbound != want {
		return fmt.Errorf("%d outbound clusters, want %d", outbound, want)
	}
	if len(vhosts) != services+1 { // and allow_any
		return fmt.Errorf("%d virtual hosts in route configuration %q, want %d", len(vhosts), routeConfig, services+1)
	}
	return nil
}

func (f *fleet) checkService(st adsclient.State, vhosts map[string]*routev3.VirtualHost, i int) error {
	shape, v := shapeOf(i), f.variant[i]
	def, sub := clusterName(i, ""), func(s string) string { return clusterName(i, s) }
	clusters := []string{def}
	if shape.hasSubsets() {
		for _, s := range subsets {
			clusters = append(clusters, sub(s))
		}
	}
	for _, n := range clusters {
		c := st.Clusters[n]
		if c == nil {
			return fmt.Errorf("no cluster %s", n)
		}
		if got := maxRequestsOf(c); shape.hasSubsets() && got != maxRequests(i) {
			return fmt.Errorf("cluster %s: max requests %d, want the DestinationRule's %d", n, got, maxRequests(i))
		}
	}
	vh := vhosts[fmt.Sprintf("%s:%d", fqdn(i), servicePort)]
	if vh == nil {
		return errors.New("no virtual host")
	}
	if err := checkRoutes(vh.GetRoutes(), shape, i, v, def, sub); err != nil {
		return fmt.Errorf("VirtualService variant %d: %w", v, err)
	}
	var got []string
	for _, loc := range st.Endpoints[def].GetEndpoints() {
		for _, lb := range loc.GetLbEndpoints() {
			sa := lb.GetEndpoint().GetAddress().GetSocketAddress()
			if sa.GetPortValue() != targetPort {
				return fmt.Errorf("endpoint %s on port %d, want %d", sa.GetAddress(), sa.GetPortValue(), targetPort)
			}
			got = append(got, sa.GetAddress())
		}
	}
	slices.Sort(got)
	if want := slices.Sorted(slices.Values(f.addresses[i])); !slices.Equal(got, want) {
		return fmt.Errorf("endpoints %v, want %v", got, want)
	}
	return nil
}

func checkRoutes(routes []*routev3.Route, shape routeShape, i, v int, def string, sub func(string) string) error {
	target := func(r *routev3.Route) string { return r.GetRoute().GetCluster() }
	switch {
	case shape == plain && len(routes) == 1:
		if target(routes[0]) != def || routes[0].GetRoute().GetTimeout().AsDuration() != timeout(v) {
			return fmt.Errorf("route to %s with timeout %v, want %s and %v", target(routes[0]),
				routes[0].GetRoute().GetTimeout().AsDuration(), def, timeout(v))
		}
	case shape == headerMatch && len(routes) == 2:
		hs := routes[0].GetMatch().GetHeaders()
		if len(hs) != 1 || hs[0].GetName() != "end-user" || hs[0].GetStringMatch().GetExact() != user(i, v) || target(routes[0]) != sub("v2") {
			return fmt.Errorf("first route matches %v to %s, want end-user %s to %s", hs, target(routes[0]), user(i, v), sub("v2"))
		}
		if target(routes[1]) != sub("v1") {
			return fmt.Errorf("second route to %s, want %s", target(routes[1]), sub("v1"))
		}
	case shape == weightedSplit && len(routes) == 1:
		var got []string
		for _, c := range routes[0].GetRoute().GetWeightedClusters().GetClusters() {
			got = append(got, fmt.Sprintf("%s=%d", c.GetName(), c.GetWeight().GetValue()))
		}
		want := []string{fmt.Sprintf("%s=%d", sub("v1"), weight(v)), fmt.Sprintf("%s=%d", sub("v2"), 100-weight(v))}
		if !slices.Equal(got, want) {
			return fmt.Errorf("split %v, want %v", got, want)
		}
	case shape == prefixRewrite && len(routes) == 2:
		r := routes[0]
		if r.GetMatch().GetPrefix() != apiPrefix(v) || r.GetRoute().GetPrefixRewrite() != "/" || target(r) != def {
			return fmt.Errorf("first route %q rewritten to %q to %s, want %q to / to %s",
				r.GetMatch().GetPrefix(), r.GetRoute().GetPrefixRewrite(), target(r), apiPrefix(v), def)
		}
		if target(routes[1]) != def || routes[1].GetMatch().GetPrefix() != "/" {
			return fmt.Errorf("default route %q to %s, want / to %s", routes[1].GetMatch().GetPrefix(), target(routes[1]), def)
		}
	default:
		return fmt.Errorf("%d routes, not what shape %d makes", len(routes), shape)
	}
	return nil
}

func maxRequestsOf(c *clusterv3.Cluster) uint32 {
	for _, th := range c.GetCircuitBreakers().GetThresholds() {
		return th.GetMaxRequests().GetValue()
	}
	return 0
}
