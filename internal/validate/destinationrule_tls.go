package validate

import (
	"slices"

	"k8s.io/apimachinery/pkg/util/validation/field"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
)

var tlsModes = []string{
	string(networkingv1.TLSModeDisable), string(networkingv1.TLSModeSimple),
	string(networkingv1.TLSModeMutual), string(networkingv1.TLSModeIstioMutual),
}

// clientTLS follows Istio's ValidateTLS for upstream TLS:
//   - insecureSkipVerify turns off server verification, so the fields that configure
//     it (CA, SANs; for SIMPLE also credentialName, which would carry the CA) conflict;
//   - with credentialName (SIMPLE or MUTUAL) the certificates come from the Secret, so
//     the file fields conflict with it;
//   - MUTUAL without credentialName needs the client certificate and key files.
//
// Certificate fields under DISABLE or ISTIO_MUTUAL are ignored, which Istio accepts;
// DestinationRuleWarnings says so.
func clientTLS(p *field.Path, t *networkingv1.ClientTLSSettings) field.ErrorList {
	if t == nil {
		return nil
	}
	var errs field.ErrorList
	if t.Mode != "" && !slices.Contains(tlsModes, string(t.Mode)) {
		errs = append(errs, field.NotSupported(p.Child("mode"), t.Mode, tlsModes))
	}
	simpleOrMutual := t.Mode == networkingv1.TLSModeSimple || t.Mode == networkingv1.TLSModeMutual
	if t.InsecureSkipVerify != nil && *t.InsecureSkipVerify && simpleOrMutual {
		const why = "cannot be set when insecureSkipVerify is true (the server certificate is not verified)"
		if t.CaCertificates != "" {
			errs = append(errs, field.Forbidden(p.Child("caCertificates"), why))
		}
		if t.Mode == networkingv1.TLSModeSimple && t.CredentialName != "" {
			errs = append(errs, field.Forbidden(p.Child("credentialName"), why))
		}
		if len(t.SubjectAltNames) > 0 {
			errs = append(errs, field.Forbidden(p.Child("subjectAltNames"), why))
		}
	}
	if simpleOrMutual && t.CredentialName != "" {
		for _, f := range []struct{ name, v string }{
			{"clientCertificate", t.ClientCertificate}, {"privateKey", t.PrivateKey},
			{"caCertificates", t.CaCertificates}, {"caCrl", t.CaCrl},
		} {
			if f.v != "" {
				errs = append(errs, field.Forbidden(p.Child(f.name), "cannot be set with credentialName: the credential Secret holds the certificates, key and CA"))
			}
		}
		return errs
	}
	if t.Mode == networkingv1.TLSModeMutual {
		if t.ClientCertificate == "" {
			errs = append(errs, field.Required(p.Child("clientCertificate"), "MUTUAL needs clientCertificate and privateKey, or a credentialName"))
		}
		if t.PrivateKey == "" {
			errs = append(errs, field.Required(p.Child("privateKey"), "MUTUAL needs clientCertificate and privateKey, or a credentialName"))
		}
	}
	return errs
}
