package validate

import (
	"k8s.io/apimachinery/pkg/util/validation/field"

	meshv1alpha1 "github.com/meshd-io/meshd/api/meshd/v1alpha1"
)

// Mesh checks meshd's own settings: the trust domain, the root namespace and that the
// CA mode has what it needs.
func Mesh(name string, spec *meshv1alpha1.MeshSpec) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec")
	if name != meshv1alpha1.MeshName {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), name, "the Mesh must be named "+meshv1alpha1.MeshName+"; meshd ignores any other"))
	}
	if spec.TrustDomain != "" {
		if err := FQDN(spec.TrustDomain); err != nil {
			errs = append(errs, field.Invalid(p.Child("trustDomain"), spec.TrustDomain, err.Error()))
		}
	}
	if spec.RootNamespace != "" && !IsDNS1123Label(spec.RootNamespace) {
		errs = append(errs, field.Invalid(p.Child("rootNamespace"), spec.RootNamespace, "must be a namespace name (DNS label)"))
	}
	if spec.CA.Mode == meshv1alpha1.CAModeCertManager && (spec.CA.CertManager == nil || spec.CA.CertManager.IssuerRef.Name == "") {
		errs = append(errs, field.Required(p.Child("ca", "certManager", "issuerRef", "name"), "CA mode CertManager needs the issuer that signs meshd's intermediate"))
	}
	seen := map[string]bool{}
	for i, ep := range spec.ExtensionProviders {
		if seen[ep.Name] {
			errs = append(errs, field.Duplicate(p.Child("extensionProviders").Index(i).Child("name"), ep.Name))
		}
		seen[ep.Name] = true
	}
	return errs
}
