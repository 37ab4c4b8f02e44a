package validate

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
)

var (
	// redirectCodes are the codes Envoy's RedirectAction can send. Istio's webhook takes
	// any 3xx but then drops a route with another code when translating; meshd refuses
	// it up front so the user sees why.
	redirectCodes = []string{"301", "302", "303", "307", "308"}
	// retryOnPolicies are Envoy's x-envoy-retry-on and x-envoy-retry-grpc-on policies.
	retryOnPolicies = []string{
		"5xx", "gateway-error", "reset", "reset-before-request", "connect-failure", "retriable-4xx",
		"refused-stream", "retriable-status-codes", "retriable-headers", "envoy-ratelimited",
		"http3-post-connect-failure",
		"cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable",
	}
	// grpcStatusNames are the status names a fault abort may return (grpc/doc/statuscodes.md).
	grpcStatusNames = []string{
		"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
		"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
		"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
		"UNAUTHENTICATED",
	}
	// corsMethods are the methods Istio accepts in allowMethods ("*" allows any).
	corsMethods = []string{
		http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace, "*",
	}
	derivePorts         = []string{string(networkingv1.RedirectPortFromProtocolDefault), string(networkingv1.RedirectPortFromRequestPort)}
	unmatchedPreflights = []string{string(networkingv1.UnmatchedPreflightsUnspecified), string(networkingv1.UnmatchedPreflightsForward), string(networkingv1.UnmatchedPreflightsIgnore)}
)

// maxDirectResponseBody is Istio's limit: the body travels inside every route config.
const maxDirectResponseBody = 1 << 20

func redirect(p *field.Path, r *networkingv1.HTTPRedirect) field.ErrorList {
	if r == nil {
		return nil
	}
	var errs field.ErrorList
	if r.URI == "" && r.Authority == "" && r.Port == nil && r.DerivePort == nil && r.Scheme == "" {
		errs = append(errs, field.Required(p, "a redirect must set at least one of uri, authority, scheme, port or derivePort"))
	}
	if r.RedirectCode != 0 && !slices.Contains(redirectCodes, strconv.FormatUint(uint64(r.RedirectCode), 10)) {
		errs = append(errs, field.NotSupported(p.Child("redirectCode"), r.RedirectCode, redirectCodes))
	}
	if r.Scheme != "" && r.Scheme != "http" && r.Scheme != "https" {
		errs = append(errs, field.NotSupported(p.Child("scheme"), r.Scheme, []string{"http", "https"}))
	}
	if r.Port != nil && *r.Port != 0 { // 0 keeps the request's port, as in Envoy
		errs = append(errs, port1To65535(p.Child("port"), *r.Port)...)
	}
	if r.DerivePort != nil {
		if r.Port != nil {
			errs = append(errs, field.Forbidden(p.Child("derivePort"), "only one of port or derivePort may be set"))
		}
		if !slices.Contains(derivePorts, string(*r.DerivePort)) {
			errs = append(errs, field.NotSupported(p.Child("derivePort"), *r.DerivePort, derivePorts))
		}
	}
	return errs
}

func directResponse(p *field.Path, d *networkingv1.HTTPDirectResponse) field.ErrorList {
	if d == nil {
		return nil
	}
	var errs field.ErrorList
	if d.Status < 200 || d.Status > 599 {
		errs = append(errs, field.Invalid(p.Child("status"), d.Status, "HTTP status must be in 200-599"))
	}
	if b := d.Body; b != nil {
		size := len(b.Bytes)
		if b.String != nil {
			size = len(*b.String)
			if b.Bytes != nil {
				errs = append(errs, field.Invalid(p.Child("body"), "", "only one of string or bytes may be set"))
			}
		}
		if size > maxDirectResponseBody {
			errs = append(errs, field.Invalid(p.Child("body"), fmt.Sprintf("%d bytes", size), "a direct response body must not exceed 1MiB: it is sent to every proxy"))
		}
	}
	return errs
}

func rewrite(p *field.Path, r *networkingv1.HTTPRewrite) field.ErrorList {
	if r == nil {
		return nil
	}
	if r.URI == "" && r.URIRegexRewrite == nil && r.Authority == "" {
		return field.ErrorList{field.Required(p, "a rewrite must set at least one of uri, uriRegexRewrite or authority")}
	}
	rr := r.URIRegexRewrite
	if rr == nil {
		return nil
	}
	var errs field.ErrorList
	rp := p.Child("uriRegexRewrite")
	if r.URI != "" {
		errs = append(errs, field.Forbidden(rp, "only one of uri or uriRegexRewrite may be set"))
	}
	if rr.Match == "" {
		errs = append(errs, field.Required(rp.Child("match"), "uriRegexRewrite needs both match and rewrite"))
	} else if err := checkRegex(rp.Child("match"), rr.Match); err != nil {
		errs = append(errs, err)
	}
	if rr.Rewrite == "" {
		errs = append(errs, field.Required(rp.Child("rewrite"), "uriRegexRewrite needs both match and rewrite"))
	}
	return errs
}

func retries(p *field.Path, r *networkingv1.HTTPRetry) field.ErrorList {
	if r == nil {
		return nil
	}
	var errs field.ErrorList
	if r.Attempts < 0 {
		errs = append(errs, field.Invalid(p.Child("attempts"), r.Attempts, "attempts must not be negative"))
	}
	if r.Attempts == 0 && (r.PerTryTimeout != nil || r.RetryOn != "" || r.RetryRemoteLocalities != nil) {
		errs = append(errs, field.Invalid(p.Child("attempts"), r.Attempts,
			"attempts 0 disables retries, so perTryTimeout, retryOn and retryRemoteLocalities would have no effect: set attempts or remove them"))
	}
	errs = append(errs, checkDuration(p.Child("perTryTimeout"), r.PerTryTimeout, atLeastMillisecond)...)
	if r.RetryOn != "" {
		for _, policy := range strings.Split(r.RetryOn, ",") {
			if slices.Contains(retryOnPolicies, policy) {
				continue
			}
			// A number is a retriable status code; it must be a known HTTP status.
			if code, err := strconv.Atoi(policy); err == nil && http.StatusText(code) != "" {
				continue
			}
			errs = append(errs, field.Invalid(p.Child("retryOn"), policy,
				"not a retry policy: use Envoy's retry_on names (5xx, gateway-error, reset, connect-failure, retriable-4xx, refused-stream, retriable-status-codes, ..., gRPC: cancelled, deadline-exceeded, internal, resource-exhausted, unavailable) or an HTTP status code, comma separated without spaces"))
		}
	}
	errs = append(errs, checkDuration(p.Child("backoff"), r.Backoff, atLeastMillisecond)...)
	return errs
}

// faultPercentage is Istio's rule for fault percentages: 0, or within [0.0001, 100]
// (Envoy counts them in millionths, so anything smaller would silently become 0).
func faultPercentage(p *field.Path, pc *networkingv1.Percent) field.ErrorList {
	if pc == nil {
		return nil
	}
	if v := float64(pc.Value); v < 0 || v > 100 || (v > 0 && v < 0.0001) {
		return field.ErrorList{field.Invalid(p.Child("value"), v, "percentage must be 0 or in [0.0001, 100]")}
	}
	return nil
}

// percentRange checks a mirror percentage: 0 to 100.
func percentRange(p *field.Path, pc *networkingv1.Percent) field.ErrorList {
	if pc == nil {
		return nil
	}
	if v := float64(pc.Value); v < 0 || v > 100 {
		return field.ErrorList{field.Invalid(p.Child("value"), v, "percentage must be in 0-100")}
	}
	return nil
}

func faultInjection(p *field.Path, f *networkingv1.HTTPFaultInjection) field.ErrorList {
	if f == nil {
		return nil
	}
	var errs field.ErrorList
	if f.Abort == nil && f.Delay == nil {
		errs = append(errs, field.Required(p, "fault injection needs an abort and/or a delay"))
	}
	if a := f.Abort; a != nil {
		ap := p.Child("abort")
		errs = append(errs, faultPercentage(ap.Child("percentage"), a.Percentage)...)
		kinds := 0
		for _, set := range []bool{a.HTTPStatus != nil, a.GrpcStatus != nil, a.HTTP2Error != nil} {
			if set {
				kinds++
			}
		}
		if kinds > 1 {
			errs = append(errs, field.Invalid(ap, "", "only one of httpStatus, grpcStatus or http2Error may be set"))
		}
		if a.HTTPStatus != nil && (*a.HTTPStatus < 200 || *a.HTTPStatus > 599) {
			errs = append(errs, field.Invalid(ap.Child("httpStatus"), *a.HTTPStatus, "HTTP status must be in 200-599"))
		}
		if a.GrpcStatus != nil && !slices.Contains(grpcStatusNames, *a.GrpcStatus) {
			errs = append(errs, field.NotSupported(ap.Child("grpcStatus"), *a.GrpcStatus, grpcStatusNames))
		}
		if a.HTTP2Error != nil {
			errs = append(errs, field.Forbidden(ap.Child("http2Error"), "HTTP/2 error aborts are not supported (Istio does not implement them); use httpStatus or grpcStatus"))
		}
	}
	if d := f.Delay; d != nil {
		dp := p.Child("delay")
		errs = append(errs, faultPercentage(dp.Child("percentage"), d.Percentage)...)
		if d.Percent < 0 || d.Percent > 100 {
			errs = append(errs, field.Invalid(dp.Child("percent"), d.Percent, "percent must be in 0-100"))
		}
		errs = append(errs, checkDuration(dp.Child("fixedDelay"), d.FixedDelay, atLeastMillisecond)...)
		if d.ExponentialDelay != nil {
			errs = append(errs, field.Forbidden(dp.Child("exponentialDelay"), "exponential delays are not supported (Istio does not implement them); use fixedDelay"))
		}
	}
	return errs
}

// mirrors checks mirror, mirrors and the mirrored percentages (the deprecated
// mirrorPercent and mirror_percent are whole percents).
func mirrors(p *field.Path, r *networkingv1.HTTPRoute) field.ErrorList {
	var errs field.ErrorList
	if r.Mirror != nil {
		errs = append(errs, destination(p.Child("mirror"), r.Mirror)...)
	}
	for _, legacy := range []struct {
		name string
		v    *uint32
	}{{"mirrorPercent", r.MirrorPercent}, {"mirror_percent", r.DeprecatedMirrorPercent}} {
		if legacy.v != nil && *legacy.v > 100 {
			errs = append(errs, field.Invalid(p.Child(legacy.name), *legacy.v, "percent must be in 0-100"))
		}
	}
	errs = append(errs, percentRange(p.Child("mirrorPercentage"), r.MirrorPercentage)...)
	for i := range r.Mirrors {
		mp := p.Child("mirrors").Index(i)
		errs = append(errs, destination(mp.Child("destination"), &r.Mirrors[i].Destination)...)
		errs = append(errs, percentRange(mp.Child("percentage"), r.Mirrors[i].Percentage)...)
	}
	return errs
}

func corsPolicy(p *field.Path, c *networkingv1.CorsPolicy) field.ErrorList {
	if c == nil {
		return nil
	}
	var errs field.ErrorList
	for i := range c.AllowOrigins {
		o := &c.AllowOrigins[i]
		op := p.Child("allowOrigins").Index(i)
		if (o.Exact == nil || *o.Exact == "") && (o.Prefix == nil || *o.Prefix == "") && (o.Regex == nil || *o.Regex == "") {
			errs = append(errs, field.Invalid(op, "", "an allowed origin needs a non-empty exact, prefix or regex"))
			continue
		}
		errs = append(errs, stringMatch(op, o, matchStrict)...)
	}
	for i, m := range c.AllowMethods {
		if !slices.Contains(corsMethods, m) {
			errs = append(errs, field.NotSupported(p.Child("allowMethods").Index(i), m, corsMethods))
		}
	}
	for _, list := range []struct {
		name  string
		names []string
	}{{"allowHeaders", c.AllowHeaders}, {"exposeHeaders", c.ExposeHeaders}} {
		for i, h := range list.names {
			if h != "*" && !headerToken.MatchString(h) {
				errs = append(errs, field.Invalid(p.Child(list.name).Index(i), h, "not a valid HTTP header name (or *)"))
			}
		}
	}
	if c.MaxAge != nil {
		mp := p.Child("maxAge")
		if de := checkDuration(mp, c.MaxAge, atLeastMillisecond); len(de) > 0 {
			errs = append(errs, de...)
		} else if v, _ := time.ParseDuration(string(*c.MaxAge)); v%time.Second != 0 {
			errs = append(errs, field.Invalid(mp, string(*c.MaxAge), "Access-Control-Max-Age is in whole seconds: use a multiple of 1s"))
		}
	}
	if c.UnmatchedPreflights != "" && !slices.Contains(unmatchedPreflights, string(c.UnmatchedPreflights)) {
		errs = append(errs, field.NotSupported(p.Child("unmatchedPreflights"), c.UnmatchedPreflights, unmatchedPreflights))
	}
	return errs
}
