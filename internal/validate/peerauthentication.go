package validate

import (
	"maps"
	"slices"
	"strconv"

	"k8s.io/apimachinery/pkg/util/validation/field"

	securityv1 "github.com/meshd-io/meshd/api/security/v1"
)

var mtlsModes = []string{
	string(securityv1.MTLSModeUnset), string(securityv1.MTLSModeDisable),
	string(securityv1.MTLSModePermissive), string(securityv1.MTLSModeStrict),
}

// PeerAuthentication checks mTLS modes and that port-level settings name ports of
// selected workloads.
func PeerAuthentication(spec *securityv1.PeerAuthenticationSpec) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec")
	errs = append(errs, workloadSelector(p.Child("selector"), spec.Selector)...)
	if spec.MTLS != nil {
		errs = append(errs, mtlsMode(p.Child("mtls", "mode"), spec.MTLS.Mode)...)
	}
	if spec.PortLevelMTLS != nil {
		pp := p.Child("portLevelMtls")
		if spec.Selector == nil || len(spec.Selector.MatchLabels) == 0 {
			errs = append(errs, field.Forbidden(pp, "mesh/namespace peer authentication cannot have port level mTLS: portLevelMtls requires a selector"))
		}
		if len(spec.PortLevelMTLS) == 0 {
			errs = append(errs, field.Required(pp, "port level mTLS, if defined, must have at least one element"))
		}
		for _, port := range slices.Sorted(maps.Keys(spec.PortLevelMTLS)) {
			n, err := strconv.ParseUint(port, 10, 32)
			if err != nil || n == 0 || n > 65535 {
				errs = append(errs, field.Invalid(pp.Key(port), port, "port must be a number in 1-65535"))
			}
			errs = append(errs, mtlsMode(pp.Key(port).Child("mode"), spec.PortLevelMTLS[port].Mode)...)
		}
	}
	return errs
}

func mtlsMode(p *field.Path, mode securityv1.MutualTLSMode) field.ErrorList {
	if mode == "" {
		return nil // unset means UNSET: inherit
	}
	for _, m := range mtlsModes {
		if string(mode) == m {
			return nil
		}
	}
	return field.ErrorList{field.NotSupported(p, mode, mtlsModes)}
}
