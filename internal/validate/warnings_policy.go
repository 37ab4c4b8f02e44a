package validate

import (
	"k8s.io/apimachinery/pkg/util/validation/field"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
	securityv1 "github.com/meshd-io/meshd/api/security/v1"
	typev1beta1 "github.com/meshd-io/meshd/api/type/v1beta1"
)

// DestinationRuleWarnings lists deprecated and ineffective settings of a DestinationRule.
func DestinationRuleWarnings(spec *networkingv1.DestinationRuleSpec) []string {
	var w warnings
	p := field.NewPath("spec")
	selectorWarning(&w, p.Child("workloadSelector"), spec.WorkloadSelector, "every workload in the namespace")
	trafficPolicyWarnings(&w, p.Child("trafficPolicy"), spec.TrafficPolicy)
	for i := range spec.Subsets {
		trafficPolicyWarnings(&w, p.Child("subsets").Index(i).Child("trafficPolicy"), spec.Subsets[i].TrafficPolicy)
	}
	return w
}

func trafficPolicyWarnings(w *warnings, p *field.Path, tp *networkingv1.TrafficPolicy) {
	if tp == nil {
		return
	}
	policyWarnings(w, p, tp.LoadBalancer, tp.OutlierDetection, tp.TLS)
	for i := range tp.PortLevelSettings {
		pl := &tp.PortLevelSettings[i]
		policyWarnings(w, p.Child("portLevelSettings").Index(i), pl.LoadBalancer, pl.OutlierDetection, pl.TLS)
	}
}

func policyWarnings(w *warnings, p *field.Path, lb *networkingv1.LoadBalancerSettings, od *networkingv1.OutlierDetection, tls *networkingv1.ClientTLSSettings) {
	if lb != nil {
		lp := p.Child("loadBalancer")
		if lb.Simple != nil && *lb.Simple == networkingv1.SimpleLBLeastConn {
			w.add(lp.Child("simple"), "LEAST_CONN is deprecated; use LEAST_REQUEST")
		}
		if lb.ConsistentHash != nil && lb.ConsistentHash.MinimumRingSize != 0 {
			w.add(lp.Child("consistentHash", "minimumRingSize"), "deprecated; use consistentHash.ringHash.minimumRingSize")
		}
		if l := lb.LocalityLbSetting; l != nil && (len(l.Failover) > 0 || len(l.FailoverPriority) > 0) && od == nil {
			w.add(lp.Child("localityLbSetting"), "failover only happens when outlier detection ejects unhealthy endpoints; set outlierDetection")
		}
		if lb.WarmupDurationSecs != nil {
			w.add(lp.Child("warmupDurationSecs"), "deprecated; use warmup.duration")
		}
	}
	if od != nil && od.ConsecutiveErrors != 0 {
		w.add(p.Child("outlierDetection", "consecutiveErrors"), "deprecated; use consecutiveGatewayErrors or consecutive5xxErrors")
	}
	if tls != nil && (tls.Mode == "" || tls.Mode == networkingv1.TLSModeDisable || tls.Mode == networkingv1.TLSModeIstioMutual) {
		mode := tls.Mode
		if mode == "" {
			mode = networkingv1.TLSModeDisable
		}
		tp := p.Child("tls")
		for _, f := range []struct{ name, v string }{
			{"clientCertificate", tls.ClientCertificate}, {"privateKey", tls.PrivateKey},
			{"caCertificates", tls.CaCertificates}, {"credentialName", tls.CredentialName}, {"caCrl", tls.CaCrl},
		} {
			if f.v != "" {
				w.add(tp.Child(f.name), "ignored with mode %s", mode)
			}
		}
	}
}

// AuthorizationPolicyWarnings lists deprecated and surprising settings of an
// AuthorizationPolicy.
func AuthorizationPolicyWarnings(spec *securityv1.AuthorizationPolicySpec) []string {
	var w warnings
	p := field.NewPath("spec")
	selectorWarning(&w, p.Child("selector"), spec.Selector, "every workload in the namespace")
	if spec.TargetRef != nil {
		w.add(p.Child("targetRef"), "deprecated; use targetRefs")
	}
	if spec.Action != securityv1.ActionDeny {
		return w
	}
	for i := range spec.Rules {
		if denyRuleIsHTTPOnly(&spec.Rules[i]) {
			w.add(p.Child("rules").Index(i), "this DENY rule uses only HTTP attributes, so it denies all traffic to TCP ports in its scope; name the ports it is meant for")
		}
	}
	return w
}

// denyRuleIsHTTPOnly is Istio's test: a DENY rule whose sources (when there is no `to`)
// or operations use no TCP-level field cannot be evaluated on TCP and, failing closed,
// denies every TCP connection.
func denyRuleIsHTTPOnly(r *securityv1.Rule) bool {
	fromExists, toExists, tcpFrom, tcpTo := false, false, false, false
	for _, f := range r.From {
		s := f.Source
		if s == nil {
			continue
		}
		fromExists = true
		if s.Principals != nil || s.NotPrincipals != nil || s.Namespaces != nil || s.NotNamespaces != nil ||
			s.IPBlocks != nil || s.NotIPBlocks != nil || s.RemoteIPBlocks != nil || s.NotRemoteIPBlocks != nil ||
			s.ServiceAccounts != nil || s.NotServiceAccounts != nil {
			tcpFrom = true
		}
	}
	for _, t := range r.To {
		o := t.Operation
		if o == nil {
			continue
		}
		toExists = true
		if o.Ports != nil || o.NotPorts != nil {
			tcpTo = true
		}
	}
	return (fromExists && !toExists && !tcpFrom) || (toExists && !tcpTo)
}

// PeerAuthenticationWarnings lists surprising settings of a PeerAuthentication.
func PeerAuthenticationWarnings(spec *securityv1.PeerAuthenticationSpec) []string {
	var w warnings
	selectorWarning(&w, field.NewPath("spec", "selector"), spec.Selector, "the whole namespace (or mesh)")
	return w
}

// selectorWarning: a selector without labels selects everything, like no selector,
// which is rarely what was meant (Istio warns too).
func selectorWarning(w *warnings, p *field.Path, s *typev1beta1.WorkloadSelector, scope string) {
	if s != nil && len(s.MatchLabels) == 0 {
		w.add(p, "workload selector without labels applies to %s", scope)
	}
}
