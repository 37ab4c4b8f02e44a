package gateway

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

func TestAddress(t *testing.T) {
	ip, host := gatewayv1.IPAddressType, gatewayv1.HostnameAddressType
	svc := func(typ corev1.ServiceType, clusterIPs []string, ingress ...corev1.LoadBalancerIngress) *corev1.Service {
		s := &corev1.Service{}
		s.Spec.Type, s.Spec.ClusterIPs = typ, clusterIPs
		if len(clusterIPs) > 0 {
			s.Spec.ClusterIP = clusterIPs[0]
		}
		s.Status.LoadBalancer.Ingress = ingress
		return s
	}
	gw := &gatewayv1.Gateway{}
	asking := &gatewayv1.Gateway{}
	asking.Spec.Addresses = []gatewayv1.GatewaySpecAddress{{Value: "203.0.113.10"}}
	for _, tc := range []struct {
		name   string
		svc    *corev1.Service
		gw     *gatewayv1.Gateway
		want   []gatewayv1.GatewayStatusAddress
		ok     bool
		reason string
	}{
		{
			name: "ClusterIP", svc: svc(corev1.ServiceTypeClusterIP, []string{"10.96.0.12"}), gw: gw,
			want: []gatewayv1.GatewayStatusAddress{{Type: &ip, Value: "10.96.0.12"}}, ok: true,
		},
		{
			name: "dual-stack ClusterIP", svc: svc(corev1.ServiceTypeClusterIP, []string{"10.96.0.12", "fd00::12"}), gw: gw,
			want: []gatewayv1.GatewayStatusAddress{{Type: &ip, Value: "10.96.0.12"}, {Type: &ip, Value: "fd00::12"}}, ok: true,
		},
		{
			name: "ClusterIP not allocated yet", svc: svc(corev1.ServiceTypeClusterIP, nil), gw: gw,
			reason: "AddressNotAssigned",
		},
		{
			name: "LoadBalancer without ingress", svc: svc(corev1.ServiceTypeLoadBalancer, []string{"10.96.0.12"}), gw: gw,
			reason: "AddressNotAssigned",
		},
		{
			name: "LoadBalancer with an IP",
			svc:  svc(corev1.ServiceTypeLoadBalancer, []string{"10.96.0.12"}, corev1.LoadBalancerIngress{IP: "198.51.100.7"}),
			gw:   gw, want: []gatewayv1.GatewayStatusAddress{{Type: &ip, Value: "198.51.100.7"}}, ok: true,
		},
		{
			name: "LoadBalancer with a hostname",
			svc: svc(corev1.ServiceTypeLoadBalancer, []string{"10.96.0.12"},
				corev1.LoadBalancerIngress{Hostname: "a1b2.elb.example.com"}),
			gw: gw, want: []gatewayv1.GatewayStatusAddress{{Type: &host, Value: "a1b2.elb.example.com"}}, ok: true,
		},
		{
			name: "LoadBalancer given the requested IP",
			svc:  svc(corev1.ServiceTypeLoadBalancer, nil, corev1.LoadBalancerIngress{IP: "203.0.113.10"}),
			gw:   asking, want: []gatewayv1.GatewayStatusAddress{{Type: &ip, Value: "203.0.113.10"}}, ok: true,
		},
		{
			name: "LoadBalancer given another IP than requested",
			svc:  svc(corev1.ServiceTypeLoadBalancer, nil, corev1.LoadBalancerIngress{IP: "198.51.100.7"}),
			gw:   asking, want: []gatewayv1.GatewayStatusAddress{{Type: &ip, Value: "198.51.100.7"}}, reason: "AddressNotUsable",
		},
		{name: "no Service", gw: gw, reason: "AddressNotAssigned"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, reason := Address(tc.svc, tc.gw)
			if !reflect.DeepEqual(got, tc.want) || ok != tc.ok || reason != tc.reason {
				t.Errorf("Address() = %v, %v, %q; want %v, %v, %q", got, ok, reason, tc.want, tc.ok, tc.reason)
			}
		})
	}
}
