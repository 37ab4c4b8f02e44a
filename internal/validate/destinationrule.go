package validate

import (
	"k8s.io/apimachinery/pkg/util/validation/field"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
)

// DestinationRule checks a DestinationRule spec: the host, subset names (present, DNS
// labels, unique) and labels, every traffic policy, exportTo and the workload selector.
func DestinationRule(spec *networkingv1.DestinationRuleSpec) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec")
	if spec.Host == "" {
		errs = append(errs, field.Required(p.Child("host"), "host is required"))
	} else if err := WildcardDomain(spec.Host); err != nil {
		errs = append(errs, field.Invalid(p.Child("host"), spec.Host, err.Error()))
	}
	errs = append(errs, workloadSelector(p.Child("workloadSelector"), spec.WorkloadSelector)...)
	seen := map[string]bool{}
	for i, s := range spec.Subsets {
		sp := p.Child("subsets").Index(i)
		switch {
		case s.Name == "":
			errs = append(errs, field.Required(sp.Child("name"), "subset name cannot be empty"))
		case !IsDNS1123Label(s.Name):
			errs = append(errs, field.Invalid(sp.Child("name"), s.Name, "subset name must be a DNS label"))
		case seen[s.Name]:
			errs = append(errs, field.Duplicate(sp.Child("name"), s.Name))
		}
		seen[s.Name] = true
		errs = append(errs, labelMap(sp.Child("labels"), s.Labels)...)
		errs = append(errs, trafficPolicy(sp.Child("trafficPolicy"), s.TrafficPolicy)...)
	}
	errs = append(errs, trafficPolicy(p.Child("trafficPolicy"), spec.TrafficPolicy)...)
	errs = append(errs, exportTo(p.Child("exportTo"), spec.ExportTo, spec.WorkloadSelector != nil)...)
	return errs
}

// trafficPolicy checks a top-level or subset policy. An empty policy is refused, as in
// Istio: it is almost always a mis-indented YAML block.
func trafficPolicy(p *field.Path, tp *networkingv1.TrafficPolicy) field.ErrorList {
	if tp == nil {
		return nil
	}
	if tp.LoadBalancer == nil && tp.ConnectionPool == nil && tp.OutlierDetection == nil && tp.TLS == nil &&
		tp.PortLevelSettings == nil && tp.Tunnel == nil && tp.ProxyProtocol == nil && tp.RetryBudget == nil {
		return field.ErrorList{field.Required(p, "a traffic policy must set at least one field")}
	}
	var errs field.ErrorList
	if tp.Tunnel != nil && tp.ProxyProtocol != nil {
		errs = append(errs, field.Forbidden(p.Child("proxyProtocol"), "tunnel and proxyProtocol cannot both be set"))
	}
	errs = append(errs, loadBalancer(p.Child("loadBalancer"), tp.LoadBalancer, tp.OutlierDetection)...)
	errs = append(errs, connectionPool(p.Child("connectionPool"), tp.ConnectionPool)...)
	errs = append(errs, outlierDetection(p.Child("outlierDetection"), tp.OutlierDetection)...)
	errs = append(errs, clientTLS(p.Child("tls"), tp.TLS)...)
	errs = append(errs, portLevelSettings(p.Child("portLevelSettings"), tp.PortLevelSettings)...)
	errs = append(errs, tunnel(p.Child("tunnel"), tp.Tunnel)...)
	errs = append(errs, proxyProtocol(p.Child("proxyProtocol"), tp.ProxyProtocol)...)
	errs = append(errs, retryBudget(p.Child("retryBudget"), tp.RetryBudget)...)
	return errs
}

func portLevelSettings(p *field.Path, pls []networkingv1.PortTrafficPolicy) field.ErrorList {
	var errs field.ErrorList
	ports := map[uint32]bool{}
	for i := range pls {
		pl := &pls[i]
		ip := p.Index(i)
		pp := ip.Child("port")
		switch {
		case pl.Port == nil || pl.Port.Number == 0:
			errs = append(errs, field.Required(pp, "port level settings need a port number"))
		case pl.Port.Number > 65535:
			errs = append(errs, field.Invalid(pp.Child("number"), pl.Port.Number, "port number must be in 1-65535"))
		case ports[pl.Port.Number]:
			errs = append(errs, field.Duplicate(pp.Child("number"), pl.Port.Number))
		}
		if pl.Port != nil {
			ports[pl.Port.Number] = true
		}
		if pl.LoadBalancer == nil && pl.ConnectionPool == nil && pl.OutlierDetection == nil && pl.TLS == nil {
			errs = append(errs, field.Required(ip, "a port traffic policy must set at least one of loadBalancer, connectionPool, outlierDetection or tls"))
			continue
		}
		errs = append(errs, loadBalancer(ip.Child("loadBalancer"), pl.LoadBalancer, pl.OutlierDetection)...)
		errs = append(errs, connectionPool(ip.Child("connectionPool"), pl.ConnectionPool)...)
		errs = append(errs, outlierDetection(ip.Child("outlierDetection"), pl.OutlierDetection)...)
		errs = append(errs, clientTLS(ip.Child("tls"), pl.TLS)...)
	}
	return errs
}
