package validate

import (
	"net/netip"
	"slices"

	"k8s.io/apimachinery/pkg/util/validation/field"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
)

var (
	h2UpgradePolicies = []string{string(networkingv1.H2UpgradeDefault), string(networkingv1.H2UpgradeDoNotUpgrade), string(networkingv1.H2UpgradeUpgrade)}
	proxyProtocolVers = []string{string(networkingv1.ProxyProtocolV1), string(networkingv1.ProxyProtocolV2)}
	tunnelProtocols   = []string{"CONNECT", "POST"}
)

// nonNegativeInt reports a negative count; Envoy's thresholds are unsigned, so a negative
// value would wrap around to "unlimited".
func nonNegativeInt(p *field.Path, v int32) field.ErrorList {
	if v < 0 {
		return field.ErrorList{field.Invalid(p, v, "must not be negative")}
	}
	return nil
}

func connectionPool(p *field.Path, cp *networkingv1.ConnectionPoolSettings) field.ErrorList {
	if cp == nil {
		return nil
	}
	if cp.TCP == nil && cp.HTTP == nil {
		return field.ErrorList{field.Required(p, "a connection pool must set tcp or http")}
	}
	var errs field.ErrorList
	if t := cp.TCP; t != nil {
		tp := p.Child("tcp")
		errs = append(errs, nonNegativeInt(tp.Child("maxConnections"), t.MaxConnections)...)
		errs = append(errs, checkDuration(tp.Child("connectTimeout"), t.ConnectTimeout, atLeastMillisecond)...)
		if ka := t.TCPKeepalive; ka != nil {
			errs = append(errs, checkDuration(tp.Child("tcpKeepalive", "time"), ka.Time, atLeastMillisecond)...)
			errs = append(errs, checkDuration(tp.Child("tcpKeepalive", "interval"), ka.Interval, atLeastMillisecond)...)
		}
		errs = append(errs, checkDuration(tp.Child("maxConnectionDuration"), t.MaxConnectionDuration, atLeastMillisecond)...)
		// 0s turns the idle timeout off, as Istio documents and accepts.
		errs = append(errs, checkDuration(tp.Child("idleTimeout"), t.IdleTimeout, zeroOrAtLeastMillisecond)...)
	}
	if h := cp.HTTP; h != nil {
		hp := p.Child("http")
		errs = append(errs, nonNegativeInt(hp.Child("http1MaxPendingRequests"), h.HTTP1MaxPendingRequests)...)
		errs = append(errs, nonNegativeInt(hp.Child("http2MaxRequests"), h.HTTP2MaxRequests)...)
		errs = append(errs, nonNegativeInt(hp.Child("maxRequestsPerConnection"), h.MaxRequestsPerConnection)...)
		errs = append(errs, nonNegativeInt(hp.Child("maxRetries"), h.MaxRetries)...)
		errs = append(errs, checkDuration(hp.Child("idleTimeout"), h.IdleTimeout, atLeastMillisecond)...)
		if h.H2UpgradePolicy != "" && !slices.Contains(h2UpgradePolicies, string(h.H2UpgradePolicy)) {
			errs = append(errs, field.NotSupported(hp.Child("h2UpgradePolicy"), h.H2UpgradePolicy, h2UpgradePolicies))
		}
		if h.H2UpgradePolicy == networkingv1.H2UpgradeUpgrade && h.UseClientProtocol {
			errs = append(errs, field.Forbidden(hp.Child("useClientProtocol"), "useClientProtocol cannot be true when h2UpgradePolicy is UPGRADE"))
		}
		errs = append(errs, nonNegativeInt(hp.Child("maxConcurrentStreams"), h.MaxConcurrentStreams)...)
	}
	return errs
}

func outlierDetection(p *field.Path, od *networkingv1.OutlierDetection) field.ErrorList {
	if od == nil {
		return nil
	}
	var errs field.ErrorList
	errs = append(errs, nonNegativeInt(p.Child("consecutiveErrors"), od.ConsecutiveErrors)...)
	if !od.SplitExternalLocalOriginErrors && od.ConsecutiveLocalOriginFailures != nil && *od.ConsecutiveLocalOriginFailures > 0 {
		errs = append(errs, field.Invalid(p.Child("consecutiveLocalOriginFailures"), *od.ConsecutiveLocalOriginFailures,
			"only counted when splitExternalLocalOriginErrors is true"))
	}
	errs = append(errs, checkDuration(p.Child("interval"), od.Interval, atLeastMillisecond)...)
	errs = append(errs, checkDuration(p.Child("baseEjectionTime"), od.BaseEjectionTime, atLeastMillisecond)...)
	for _, pc := range []struct {
		name string
		v    int32
	}{{"maxEjectionPercent", od.MaxEjectionPercent}, {"minHealthPercent", od.MinHealthPercent}} {
		if pc.v < 0 || pc.v > 100 {
			errs = append(errs, field.Invalid(p.Child(pc.name), pc.v, "percentage must be in 0-100"))
		}
	}
	return errs
}

func tunnel(p *field.Path, t *networkingv1.TunnelSettings) field.ErrorList {
	if t == nil {
		return nil
	}
	var errs field.ErrorList
	if t.Protocol != "" && !slices.Contains(tunnelProtocols, t.Protocol) {
		errs = append(errs, field.NotSupported(p.Child("protocol"), t.Protocol, tunnelProtocols))
	}
	if _, ipErr := netip.ParseAddr(t.TargetHost); ipErr != nil {
		if err := FQDN(t.TargetHost); err != nil {
			errs = append(errs, field.Invalid(p.Child("targetHost"), t.TargetHost, "must be a host name or an IP address: "+err.Error()))
		}
	}
	return append(errs, port1To65535(p.Child("targetPort"), t.TargetPort)...)
}

func proxyProtocol(p *field.Path, pp *networkingv1.ProxyProtocol) field.ErrorList {
	if pp == nil || pp.Version == "" || slices.Contains(proxyProtocolVers, string(pp.Version)) {
		return nil
	}
	return field.ErrorList{field.NotSupported(p.Child("version"), pp.Version, proxyProtocolVers)}
}

func retryBudget(p *field.Path, rb *networkingv1.RetryBudget) field.ErrorList {
	if rb == nil || rb.Percent == nil || (*rb.Percent >= 0 && *rb.Percent <= 100) {
		return nil
	}
	return field.ErrorList{field.Invalid(p.Child("percent"), float64(*rb.Percent), "percentage must be in 0-100")}
}
