package gateway

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Address reads the addresses a Gateway's proxy Service has been given, for the
// Gateway's status.addresses. A ClusterIP or NodePort Service has its cluster IPs; a
// LoadBalancer has what the load balancer reports (IP addresses or host names), and
// until it reports one ok is false with reason AddressNotAssigned. When the Gateway
// asks for IP addresses (spec.addresses) that the Service was not given, ok is false
// with reason AddressNotUsable. reason is a Gateway condition reason, empty when ok.
// Address is PURE.
func Address(svc *corev1.Service, gw *gatewayv1.Gateway) (addresses []gatewayv1.GatewayStatusAddress, ok bool, reason string) {
	if svc == nil {
		return nil, false, string(gatewayv1.GatewayReasonAddressNotAssigned)
	}
	ip, host := gatewayv1.IPAddressType, gatewayv1.HostnameAddressType
	switch svc.Spec.Type {
	case corev1.ServiceTypeLoadBalancer:
		for _, in := range svc.Status.LoadBalancer.Ingress {
			switch {
			case in.IP != "":
				addresses = append(addresses, gatewayv1.GatewayStatusAddress{Type: &ip, Value: in.IP})
			case in.Hostname != "":
				addresses = append(addresses, gatewayv1.GatewayStatusAddress{Type: &host, Value: in.Hostname})
			}
		}
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, "":
		ips := svc.Spec.ClusterIPs
		if len(ips) == 0 && svc.Spec.ClusterIP != "" {
			ips = []string{svc.Spec.ClusterIP}
		}
		for _, v := range ips {
			if v != corev1.ClusterIPNone {
				addresses = append(addresses, gatewayv1.GatewayStatusAddress{Type: &ip, Value: v})
			}
		}
	}
	if len(addresses) == 0 {
		return nil, false, string(gatewayv1.GatewayReasonAddressNotAssigned)
	}
	if gw == nil {
		return addresses, true, ""
	}
	for _, want := range requestedIPs(gw) {
		if !slices.ContainsFunc(addresses, func(a gatewayv1.GatewayStatusAddress) bool { return a.Value == want }) {
			return addresses, false, string(gatewayv1.GatewayReasonAddressNotUsable)
		}
	}
	return addresses, true, ""
}
