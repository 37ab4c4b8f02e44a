// Package gateway renders the proxy meshd deploys for a Gateway API Gateway, the way
// Istio's gateway deployment controller does (pilot/pkg/config/kube/gateway and its
// kube-gateway and waypoint templates): a ServiceAccount, a Deployment running
// pilot-agent and Envoy from the proxyv2 image, and a Service in front of it.
//
// Two classes are deployed:
//   - istio: an ingress gateway, "proxy router", named <gateway>-istio, behind a
//     LoadBalancer Service (networking.istio.io/service-type overrides it) exposing each
//     listener port;
//   - istio-waypoint: an ambient waypoint, "proxy waypoint", named <gateway>, behind a
//     ClusterIP Service exposing HBONE (15008).
//
// Render is PURE: no client, no clock, no I/O; the same Input gives the same objects.
//
// Left out on purpose: Istio's per-Gateway overrides (gateway.istio.io/name-override,
// gateway.istio.io/service-account), parametersRef ConfigMaps and per-class default
// ConfigMaps with their strategic-merge overlays, HorizontalPodAutoscaler and
// PodDisruptionBudget (rendered by Istio only when an overlay asks), revisions and the
// controller-version handshake, and the east-west class.
package gateway

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	meshv1alpha1 "github.com/meshd-io/meshd/api/meshd/v1alpha1"
	"github.com/meshd-io/meshd/dataplane/internal/manifest"
)

// The GatewayClasses meshd deploys proxies for.
const (
	ClassIstio    = "istio"
	ClassWaypoint = "istio-waypoint"
)

// Labels and annotations, Istio's.
const (
	LabelGatewayName      = "gateway.networking.k8s.io/gateway-name"
	LabelGatewayClassName = "gateway.networking.k8s.io/gateway-class-name"
	// LabelManaged marks what a gateway controller created, with ManagedByGateway or
	// ManagedByMesh.
	LabelManaged      = "gateway.istio.io/managed"
	ManagedByGateway  = "istio.io-gateway-controller"
	ManagedByMesh     = "istio.io-mesh-controller"
	LabelWaypointFor  = "istio.io/waypoint-for"
	LabelDataplane    = "istio.io/dataplane-mode"
	LabelInject       = "sidecar.istio.io/inject"
	LabelCanonicalSvc = "service.istio.io/canonical-name"
	LabelCanonicalRev = "service.istio.io/canonical-revision"

	// AnnotationServiceType on a Gateway overrides its Service's type.
	AnnotationServiceType = "networking.istio.io/service-type"
	// annotationTrafficDistribution keeps waypoint traffic in the caller's zone when it can.
	annotationTrafficDistribution = "networking.istio.io/traffic-distribution"
)

// Defaults of Input.
const (
	DefaultDiscoveryAddress = "meshd-xds.istio-system.svc:15012"
	DefaultClusterDomain    = "cluster.local"
)

// Proxy ports, Istio's.
const (
	PortAgentMetrics = 15020 // pilot-agent's merged Prometheus metrics
	PortStatus       = 15021 // readiness (/healthz/ready)
	PortEnvoyProm    = 15090 // Envoy's own Prometheus stats
	PortHBONE        = 15008 // a waypoint's HBONE tunnel
	portEnvoyAdmin   = 15000 // Envoy's admin, on localhost
)

// waypointFor are the values istio.io/waypoint-for takes; unset means service.
var waypointFor = []string{"service", "workload", "all", "none"}

// serviceTypes are the values networking.istio.io/service-type takes.
var serviceTypes = []corev1.ServiceType{corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer}

// Input is what a Gateway's proxy is rendered from.
type Input struct {
	// Gateway is the Gateway to deploy, of class istio or istio-waypoint. Its UID goes
	// into the owner references.
	Gateway *gatewayv1.Gateway
	// Proxy is the Mesh's proxy settings; unset fields take the Mesh defaults.
	Proxy meshv1alpha1.MeshProxy
	// DiscoveryAddress is where the proxy dials meshd for xDS and certificates
	// (DefaultDiscoveryAddress when empty).
	DiscoveryAddress string
	// ClusterDomain is the cluster's DNS suffix (DefaultClusterDomain when empty).
	ClusterDomain string
	// TrustDomain is the mesh's SPIFFE trust domain (the Mesh default when empty).
	TrustDomain string
}

// Managed reports whether meshd deploys a proxy for Gateways of the class.
func Managed(class gatewayv1.ObjectName) bool {
	return class == ClassIstio || class == ClassWaypoint
}

// ResourceName is the name of the ServiceAccount, Deployment and Service of a Gateway
// of a managed class: <gateway>-istio, or the Gateway's own name for a waypoint.
func ResourceName(gw *gatewayv1.Gateway) string {
	if gw.Spec.GatewayClassName == ClassWaypoint {
		return gw.Name
	}
	return gw.Name + "-" + string(gw.Spec.GatewayClassName)
}

// rendering is an Input with defaults applied and the Gateway's settings read and
// validated: everything the objects are built from.
type rendering struct {
	gw            *gatewayv1.Gateway
	name          string
	waypoint      bool
	proxy         meshv1alpha1.MeshProxy
	discovery     string
	clusterDomain string
	trustDomain   string
	serviceType   corev1.ServiceType
	waypointFor   string // "" when the Gateway does not say
}

// Render returns the ServiceAccount, Deployment and Service of in.Gateway's proxy, with
// TypeMeta set, sorted by kind then name. It fails, naming the field, on a Gateway it
// cannot deploy: another class, a bad annotation or label, a name too long for a
// Service or a listener on a port the proxy itself uses.
func Render(in Input) ([]client.Object, error) {
	r, err := newRendering(in)
	if err != nil {
		return nil, err
	}
	objs := []client.Object{r.deployment(), r.service(), r.serviceAccount()}
	manifest.Sort(objs)
	return objs, nil
}

// Check reports what Render would refuse in gw (the same errors) without building
// anything: translation calls it on every pass to put the error in the Gateway's status.
func Check(gw *gatewayv1.Gateway) error {
	_, err := newRendering(Input{Gateway: gw})
	return err
}

func newRendering(in Input) (*rendering, error) {
	gw := in.Gateway
	if gw == nil {
		return nil, fmt.Errorf("no Gateway to render")
	}
	if !Managed(gw.Spec.GatewayClassName) {
		return nil, fmt.Errorf("spec.gatewayClassName: meshd deploys proxies for classes %s and %s, not %q",
			ClassIstio, ClassWaypoint, gw.Spec.GatewayClassName)
	}
	mesh := (&meshv1alpha1.MeshSpec{Proxy: in.Proxy, TrustDomain: in.TrustDomain}).WithDefaults()
	r := &rendering{
		gw:            gw,
		name:          ResourceName(gw),
		waypoint:      gw.Spec.GatewayClassName == ClassWaypoint,
		proxy:         mesh.Proxy,
		discovery:     cmp.Or(in.DiscoveryAddress, DefaultDiscoveryAddress),
		clusterDomain: cmp.Or(in.ClusterDomain, DefaultClusterDomain),
		trustDomain:   mesh.TrustDomain,
		serviceType:   corev1.ServiceTypeLoadBalancer,
	}
	if r.waypoint {
		r.serviceType = corev1.ServiceTypeClusterIP
	}
	// The Gateway's name is a label value, and the resource name a Service name.
	if errs := validation.IsValidLabelValue(gw.Name); len(errs) > 0 {
		return nil, fmt.Errorf("metadata.name: %q cannot label the proxy: %s", gw.Name, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1035Label(r.name); len(errs) > 0 {
		return nil, fmt.Errorf("metadata.name: the proxy's Service would be named %q: %s", r.name, strings.Join(errs, "; "))
	}
	if v, ok := gw.Annotations[AnnotationServiceType]; ok {
		if !slices.Contains(serviceTypes, corev1.ServiceType(v)) {
			return nil, fmt.Errorf("metadata.annotations[%s]: %q is not one of ClusterIP, NodePort, LoadBalancer", AnnotationServiceType, v)
		}
		r.serviceType = corev1.ServiceType(v)
	}
	if v, ok := gw.Labels[LabelWaypointFor]; ok && r.waypoint {
		if !slices.Contains(waypointFor, v) {
			return nil, fmt.Errorf("metadata.labels[%s]: %q is not one of %s", LabelWaypointFor, v, strings.Join(waypointFor, ", "))
		}
		r.waypointFor = v
	}
	if !r.waypoint {
		reserved := []int32{portEnvoyAdmin, PortAgentMetrics, PortStatus, PortEnvoyProm}
		for i, l := range gw.Spec.Listeners {
			if slices.Contains(reserved, int32(l.Port)) {
				return nil, fmt.Errorf("spec.listeners[%d].port: %d is used by the proxy itself", i, l.Port)
			}
		}
	}
	return r, nil
}

// listenerPort is one port the proxy serves for the Gateway's listeners.
type listenerPort struct {
	name     string // <protocol>-<port>, e.g. http-80
	protocol string // lower case, the Service port's appProtocol
	port     int32
}

// listenerPorts are the Gateway's distinct listener ports, in listener order; several
// listeners on one port (HTTPS for several hostnames, say) share it, and the first one
// names it. A waypoint serves HBONE only, whatever its listeners say.
func (r *rendering) listenerPorts() []listenerPort {
	if r.waypoint {
		// HBONE's appProtocol is the mesh listener's protocol, as Istio derives it.
		proto := "hbone"
		for _, l := range r.gw.Spec.Listeners {
			if l.Port == PortHBONE {
				proto = strings.ToLower(string(l.Protocol))
				break
			}
		}
		return []listenerPort{{name: "mesh", protocol: proto, port: PortHBONE}}
	}
	var out []listenerPort
	seen := map[int32]bool{}
	for _, l := range r.gw.Spec.Listeners {
		port := int32(l.Port)
		if seen[port] {
			continue
		}
		seen[port] = true
		proto := portProtocol(l.Protocol)
		out = append(out, listenerPort{name: fmt.Sprintf("%s-%d", proto, port), protocol: proto, port: port})
	}
	return out
}

// portProtocol makes a listener protocol usable in a port name: lower case, a
// domain-prefixed custom protocol without its domain, at most 9 characters so that
// <protocol>-<port> fits a container port name's 15.
func portProtocol(p gatewayv1.ProtocolType) string {
	s := strings.ToLower(string(p))
	if i := strings.LastIndex(s, "/"); i >= 0 {
		s = s[i+1:]
	}
	s = strings.Map(func(c rune) rune {
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') {
			return c
		}
		return '-'
	}, s)
	s = strings.Trim(s, "-")
	if len(s) > 9 {
		s = strings.TrimRight(s[:9], "-")
	}
	return cmp.Or(s, "port")
}

// managedBy is the gateway.istio.io/managed value of the class.
func (r *rendering) managedBy() string {
	if r.waypoint {
		return ManagedByMesh
	}
	return ManagedByGateway
}

// infraLabels and infraAnnotations are the Gateway's spec.infrastructure metadata, less
// keys under gateway.networking.k8s.io/ (reserved for the labels meshd sets), as Istio
// does.
func (r *rendering) infraLabels() map[string]string {
	if inf := r.gw.Spec.Infrastructure; inf != nil {
		return infraMeta(inf.Labels)
	}
	return map[string]string{}
}

func (r *rendering) infraAnnotations() map[string]string {
	if inf := r.gw.Spec.Infrastructure; inf != nil {
		return infraMeta(inf.Annotations)
	}
	return map[string]string{}
}

func infraMeta[K, V ~string](m map[K]V) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if !strings.HasPrefix(string(k), "gateway.networking.k8s.io/") {
			out[string(k)] = string(v)
		}
	}
	return out
}

// identity are the labels meshd owns on every object and the pod: which Gateway, which
// class, which controller, and what a waypoint is for.
func (r *rendering) identity() map[string]string {
	l := map[string]string{
		LabelGatewayName:      r.gw.Name,
		LabelGatewayClassName: string(r.gw.Spec.GatewayClassName),
		LabelManaged:          r.managedBy(),
	}
	if r.waypointFor != "" {
		l[LabelWaypointFor] = r.waypointFor
	}
	return l
}

// labels are the labels of the ServiceAccount, Deployment and Service.
func (r *rendering) labels() map[string]string {
	return manifest.Merge(r.infraLabels(), r.identity())
}

// selector selects the Gateway's pods.
func (r *rendering) selector() map[string]string {
	return map[string]string{LabelGatewayName: r.gw.Name}
}

// meta is the metadata every object shares: name, labels, infrastructure annotations
// plus extra, and the Gateway as controlling owner so that deleting it deletes them.
func (r *rendering) meta(extraAnnotations map[string]string) metav1.ObjectMeta {
	m := metav1.ObjectMeta{
		Name:      r.name,
		Namespace: r.gw.Namespace,
		Labels:    r.labels(),
		OwnerReferences: []metav1.OwnerReference{{
			APIVersion:         gatewayv1.GroupVersion.String(),
			Kind:               "Gateway",
			Name:               r.gw.Name,
			UID:                r.gw.UID,
			Controller:         ptr.To(true),
			BlockOwnerDeletion: ptr.To(true),
		}},
	}
	if a := manifest.Merge(r.infraAnnotations(), extraAnnotations); len(a) > 0 {
		m.Annotations = a
	}
	return m
}

func (r *rendering) serviceAccount() *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: r.meta(nil),
	}
}
