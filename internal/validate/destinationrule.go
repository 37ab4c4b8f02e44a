package validate

import (
	"k8s.io/apimachinery/pkg/util/validation/field"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
)

// DestinationRule checks a DestinationRule spec: the host, subset names (present, DNS
// labels, unique) and per-port settings.
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
		errs = append(errs, trafficPolicy(sp.Child("trafficPolicy"), s.TrafficPolicy)...)
	}
	errs = append(errs, trafficPolicy(p.Child("trafficPolicy"), spec.TrafficPolicy)...)
	return errs
}

func trafficPolicy(p *field.Path, tp *networkingv1.TrafficPolicy) field.ErrorList {
	if tp == nil {
		return nil
	}
	var errs field.ErrorList
	ports := map[uint32]bool{}
	for i, pl := range tp.PortLevelSettings {
		pp := p.Child("portLevelSettings").Index(i).Child("port")
		if pl.Port == nil || pl.Port.Number == 0 {
			errs = append(errs, field.Required(pp, "port level settings need a port number"))
			continue
		}
		if pl.Port.Number > 65535 {
			errs = append(errs, field.Invalid(pp.Child("number"), pl.Port.Number, "port number must be in 1-65535"))
		}
		if ports[pl.Port.Number] {
			errs = append(errs, field.Duplicate(pp.Child("number"), pl.Port.Number))
		}
		ports[pl.Port.Number] = true
	}
	return errs
}
