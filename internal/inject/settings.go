package inject

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Pod annotations Istio's injector reads (istio.io/api annotation names).
const (
	annotationInterceptionMode = "sidecar.istio.io/interceptionMode"
	annotationProxyImage       = "sidecar.istio.io/proxyImage"
	annotationNativeSidecar    = "sidecar.istio.io/nativeSidecar"
	annotationLogLevel         = "sidecar.istio.io/logLevel"
	annotationComponentLog     = "sidecar.istio.io/componentLogLevel"
	annotationAgentLogLevel    = "sidecar.istio.io/agentLogLevel"
	annotationProxyCPU         = "sidecar.istio.io/proxyCPU"
	annotationProxyMemory      = "sidecar.istio.io/proxyMemory"
	annotationProxyCPULimit    = "sidecar.istio.io/proxyCPULimit"
	annotationProxyMemoryLimit = "sidecar.istio.io/proxyMemoryLimit"
	annotationRewriteProbes    = "sidecar.istio.io/rewriteAppHTTPProbers"
	annotationIncludeOutCIDRs  = "traffic.sidecar.istio.io/includeOutboundIPRanges"
	annotationExcludeOutCIDRs  = "traffic.sidecar.istio.io/excludeOutboundIPRanges"
	annotationIncludeInPorts   = "traffic.sidecar.istio.io/includeInboundPorts"
	annotationExcludeInPorts   = "traffic.sidecar.istio.io/excludeInboundPorts"
	annotationIncludeOutPorts  = "traffic.sidecar.istio.io/includeOutboundPorts"
	annotationExcludeOutPorts  = "traffic.sidecar.istio.io/excludeOutboundPorts"
	annotationExcludeIfaces    = "traffic.sidecar.istio.io/excludeInterfaces"
	annotationKubevirtIfaces   = "traffic.sidecar.istio.io/kubevirtInterfaces" // deprecated spelling of the next
	annotationRerouteIfaces    = "istio.io/reroute-virtual-interfaces"
)

// Interception modes (ProxyConfig.InterceptionMode).
const (
	modeRedirect = "REDIRECT"
	modeTProxy   = "TPROXY"
	modeNone     = "NONE"
)

// Istio's default proxy resources (values.global.proxy.resources).
var defaultResources = corev1.ResourceRequirements{
	Requests: corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("100m"),
		corev1.ResourceMemory: resource.MustParse("128Mi"),
	},
	Limits: corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("2000m"),
		corev1.ResourceMemory: resource.MustParse("1Gi"),
	},
}

// settings is one pod's injection parameters: Config overlaid with the pod's
// annotations, validated. Invalid annotations fail injection, as in Istio: a sidecar
// configured differently from what the user asked for is worse than a rejected pod.
type settings struct {
	interceptionMode string
	// iptables parameters, as istio-iptables takes them.
	includeOutboundIPRanges string
	excludeOutboundIPRanges string
	includeInboundPorts     string
	excludeInboundPorts     string // the user's list; excludedInboundPorts adds the status port
	includeOutboundPorts    string
	excludeOutboundPorts    string
	rerouteInterfaces       string
	excludeInterfaces       string

	image         string
	native        bool
	logLevel      string
	componentLog  string
	agentLogLevel string
	resources     corev1.ResourceRequirements
	rewriteProbes bool
}

func resolveSettings(pod *corev1.Pod, cfg Config) (settings, error) {
	a := pod.Annotations
	s := settings{
		interceptionMode:        valueOr(a, annotationInterceptionMode, modeRedirect),
		includeOutboundIPRanges: valueOr(a, annotationIncludeOutCIDRs, "*"),
		excludeOutboundIPRanges: a[annotationExcludeOutCIDRs],
		includeInboundPorts:     valueOr(a, annotationIncludeInPorts, "*"),
		excludeInboundPorts:     a[annotationExcludeInPorts],
		includeOutboundPorts:    a[annotationIncludeOutPorts],
		excludeOutboundPorts:    a[annotationExcludeOutPorts],
		excludeInterfaces:       a[annotationExcludeIfaces],
		image:                   cfg.ProxyImage,
		native:                  cfg.NativeSidecars,
		logLevel:                valueOr(a, annotationLogLevel, cfg.ProxyLogLevel),
		componentLog:            valueOr(a, annotationComponentLog, "misc:error"),
		agentLogLevel:           valueOr(a, annotationAgentLogLevel, "default:info"),
		rewriteProbes:           true,
	}
	// The newer annotation wins over the deprecated one, as in Istio's template.
	s.rerouteInterfaces = a[annotationKubevirtIfaces]
	if v, ok := a[annotationRerouteIfaces]; ok {
		s.rerouteInterfaces = v
	}
	// Istio uses the annotation only when it looks like a full reference.
	if img := a[annotationProxyImage]; strings.Contains(img, "/") {
		s.image = img
	}
	if s.image == "" {
		return s, fmt.Errorf("no proxy image configured")
	}
	switch a[annotationNativeSidecar] {
	case "true":
		s.native = true
	case "false":
		s.native = false
	}
	if v, ok := a[annotationRewriteProbes]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return s, annotationError(annotationRewriteProbes, v, "want true or false")
		}
		s.rewriteProbes = b
	}

	switch s.interceptionMode {
	case modeRedirect, modeTProxy, modeNone:
	default:
		return s, annotationError(annotationInterceptionMode, s.interceptionMode, "want REDIRECT, TPROXY or NONE")
	}
	if !validLogLevel(s.logLevel) {
		return s, annotationError(annotationLogLevel, s.logLevel, "want trace, debug, info, warning, error, critical or off")
	}
	for _, c := range []struct {
		name, value string
		star        bool
	}{
		{annotationIncludeOutCIDRs, s.includeOutboundIPRanges, true},
		{annotationExcludeOutCIDRs, s.excludeOutboundIPRanges, false},
	} {
		if err := validateCIDRs(c.value, c.star); err != nil {
			return s, annotationError(c.name, c.value, err.Error())
		}
	}
	for _, c := range []struct {
		name, value string
		star        bool
	}{
		{annotationIncludeInPorts, s.includeInboundPorts, true},
		{annotationExcludeInPorts, s.excludeInboundPorts, false},
		{annotationIncludeOutPorts, s.includeOutboundPorts, false},
		{annotationExcludeOutPorts, s.excludeOutboundPorts, false},
	} {
		if _, err := parsePorts(c.value, c.star); err != nil {
			return s, annotationError(c.name, c.value, err.Error())
		}
	}
	var err error
	if s.resources, err = proxyResources(a); err != nil {
		return s, err
	}
	return s, nil
}

// excludedInboundPorts is the user's excluded inbound ports plus the agent's status
// port, which must stay reachable by the kubelet (Istio's excludeInboundPort).
func (s settings) excludedInboundPorts() string {
	ports := splitList(s.excludeInboundPorts)
	status := strconv.Itoa(statusPort)
	for _, p := range ports {
		if p == status {
			return strings.Join(ports, ",")
		}
	}
	return strings.Join(append(ports, status), ",")
}

// proxyResources follows Istio's template: if any of the four annotations is set, only
// the annotated values are used; otherwise the defaults.
func proxyResources(a map[string]string) (corev1.ResourceRequirements, error) {
	type field struct {
		annotation string
		list       *corev1.ResourceList
		name       corev1.ResourceName
	}
	var r corev1.ResourceRequirements
	fields := []field{
		{annotationProxyCPU, &r.Requests, corev1.ResourceCPU},
		{annotationProxyMemory, &r.Requests, corev1.ResourceMemory},
		{annotationProxyCPULimit, &r.Limits, corev1.ResourceCPU},
		{annotationProxyMemoryLimit, &r.Limits, corev1.ResourceMemory},
	}
	set := false
	for _, f := range fields {
		v, ok := a[f.annotation]
		if !ok {
			continue
		}
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return r, annotationError(f.annotation, v, "not a quantity")
		}
		if *f.list == nil {
			*f.list = corev1.ResourceList{}
		}
		(*f.list)[f.name] = q
		set = true
	}
	if !set {
		return *defaultResources.DeepCopy(), nil
	}
	return r, nil
}

func annotationError(name, value, why string) error {
	return fmt.Errorf("annotation %s=%q: %s", name, value, why)
}

func valueOr(m map[string]string, key, def string) string {
	if v, ok := m[key]; ok {
		return v
	}
	return def
}

func validLogLevel(l string) bool {
	switch l {
	case "trace", "debug", "info", "warning", "error", "critical", "off":
		return true
	}
	return false
}

// splitList splits a comma-separated annotation, dropping blanks.
func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// validateCIDRs accepts a comma-separated list of CIDRs, or "*" where star is allowed.
func validateCIDRs(v string, star bool) error {
	if star && strings.TrimSpace(v) == "*" {
		return nil
	}
	for _, p := range splitList(v) {
		if _, err := netip.ParsePrefix(p); err != nil {
			return fmt.Errorf("%q is not a CIDR", p)
		}
	}
	return nil
}

// parsePorts parses a comma-separated port list; "*" (where allowed) means all and
// returns nil.
func parsePorts(v string, star bool) ([]int32, error) {
	if star && strings.TrimSpace(v) == "*" {
		return nil, nil
	}
	var out []int32
	for _, p := range splitList(v) {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%q is not a port", p)
		}
		out = append(out, int32(n))
	}
	return out, nil
}
