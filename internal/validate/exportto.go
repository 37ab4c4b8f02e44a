package validate

import (
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// exportTo checks an exportTo list as Istio does: "." (this namespace), "*" (every
// namespace) or namespace names, no duplicates, and "*" alone. A DestinationRule with a
// workloadSelector applies to its own namespace's workloads only, so it may export to
// that namespace alone; without knowing the namespace here, "." is the way to say it
// and anything wider is refused.
func exportTo(p *field.Path, entries []string, drWithSelector bool) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, e := range entries {
		ep := p.Index(i)
		switch {
		case e == "~":
			errs = append(errs, field.Invalid(ep, e, "exportTo ~ (no namespace) is only allowed for ServiceEntries"))
		case e != "." && e != "*" && !IsDNS1123Label(e):
			errs = append(errs, field.Invalid(ep, e, "must be ., * or a namespace name"))
		case seen[e]:
			errs = append(errs, field.Duplicate(ep, e))
		}
		seen[e] = true
	}
	if seen["*"] && len(entries) > 1 {
		errs = append(errs, field.Invalid(p, entries, "* exports to every namespace; it cannot be combined with other entries"))
	}
	if drWithSelector && (seen["*"] || len(entries) > 1) {
		errs = append(errs, field.Invalid(p, entries, "a DestinationRule with a workloadSelector can only be exported to its own namespace (\".\")"))
	}
	return errs
}
