package validate

import (
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
)

// Durations are strings in meshd's API ("100ms", "1.5s", "1h"); Istio stores them as
// google.protobuf.Duration. They are parsed here exactly as translation parses them
// (time.ParseDuration), so a value that validates is a value translation can use.

// durationRule says which values a duration field accepts.
type durationRule int

const (
	// atLeastMillisecond is Istio's ValidateDuration: Envoy counts most timeouts in
	// whole milliseconds, so anything shorter or finer would be silently rounded.
	atLeastMillisecond durationRule = iota
	// zeroOrAtLeastMillisecond also takes 0s, which means "disabled" (tcp idleTimeout).
	zeroOrAtLeastMillisecond
	// nonNegative takes any duration >= 0 (cookie ttl: 0s makes a session cookie).
	nonNegative
)

// parseDuration returns the value of d, or an error naming p when it does not parse.
func parseDuration(p *field.Path, d networkingv1.Duration) (time.Duration, *field.Error) {
	v, err := time.ParseDuration(string(d))
	if err != nil {
		return 0, field.Invalid(p, string(d), "must be a duration such as 100ms, 1.5s or 1h")
	}
	return v, nil
}

// checkDuration validates an optional duration against rule.
func checkDuration(p *field.Path, d *networkingv1.Duration, rule durationRule) field.ErrorList {
	if d == nil {
		return nil
	}
	v, ferr := parseDuration(p, *d)
	if ferr != nil {
		return field.ErrorList{ferr}
	}
	switch {
	case v < 0:
		return field.ErrorList{field.Invalid(p, string(*d), "duration must not be negative")}
	case rule == nonNegative, v == 0 && rule == zeroOrAtLeastMillisecond:
		return nil
	case v < time.Millisecond:
		return field.ErrorList{field.Invalid(p, string(*d), "duration must be at least 1ms")}
	case v%time.Millisecond != 0:
		return field.ErrorList{field.Invalid(p, string(*d), "only durations to millisecond precision are supported")}
	}
	return nil
}
