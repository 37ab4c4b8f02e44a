package gateway

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// service fronts the proxy: the status port, then one port per distinct listener port
// (HBONE for a waypoint). A LoadBalancer asks for the Gateway's first requested IP
// address, as Istio does.
func (r *rendering) service() *corev1.Service {
	var extra map[string]string
	if r.waypoint {
		extra = map[string]string{annotationTrafficDistribution: "PreferClose"}
	}
	ports := []corev1.ServicePort{{
		Name: "status-port", Port: PortStatus, TargetPort: intstr.FromInt32(PortStatus),
		Protocol: corev1.ProtocolTCP, AppProtocol: ptr.To("tcp"),
	}}
	for _, p := range r.listenerPorts() {
		ports = append(ports, corev1.ServicePort{
			Name: p.name, Port: p.port, TargetPort: intstr.FromInt32(p.port),
			Protocol: corev1.ProtocolTCP, AppProtocol: ptr.To(p.protocol),
		})
	}
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: r.meta(extra),
		Spec: corev1.ServiceSpec{
			Type:           r.serviceType,
			Selector:       r.selector(),
			Ports:          ports,
			IPFamilyPolicy: ptr.To(corev1.IPFamilyPolicyPreferDualStack),
		},
	}
	if r.serviceType == corev1.ServiceTypeLoadBalancer {
		if ips := requestedIPs(r.gw); len(ips) > 0 {
			svc.Spec.LoadBalancerIP = ips[0]
		}
	}
	return svc
}

// requestedIPs are the IP addresses the Gateway asks for in spec.addresses (an address
// without a type is an IP address).
func requestedIPs(gw *gatewayv1.Gateway) []string {
	var out []string
	for _, a := range gw.Spec.Addresses {
		if a.Type == nil || *a.Type == gatewayv1.IPAddressType {
			if a.Value != "" {
				out = append(out, a.Value)
			}
		}
	}
	return out
}
