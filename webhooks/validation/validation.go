// Package validation is the admission webhook that keeps invalid Istio config out of
// the API server: it decodes the object, runs internal/validate (the same rules
// translation applies) and refuses the request with every problem and its field path.
// Deprecated fields pass with warnings, which kubectl prints.
package validation

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	meshv1alpha1 "github.com/meshd-io/meshd/api/meshd/v1alpha1"
	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
	securityv1 "github.com/meshd-io/meshd/api/security/v1"
	"github.com/meshd-io/meshd/internal/validate"
)

// Path is where the API server sends validation reviews.
const Path = "/validate"

// The webhook covers every served version: they share one schema, so each kind is
// decoded into its v1 (storage) type whatever the request's apiVersion.
// +kubebuilder:webhook:path=/validate,mutating=false,failurePolicy=fail,sideEffects=None,groups=networking.istio.io;security.istio.io,resources=virtualservices;destinationrules;sidecars;authorizationpolicies;peerauthentications,verbs=create;update,versions=v1;v1beta1;v1alpha3,name=validation.istio.io,admissionReviewVersions=v1
// +kubebuilder:webhook:path=/validate,mutating=false,failurePolicy=fail,sideEffects=None,groups=meshd.io,resources=meshes,verbs=create;update,versions=v1alpha1,name=validation.meshd.io,admissionReviewVersions=v1

// Handler validates the Istio kinds meshd serves and meshd's Mesh.
type Handler struct{}

// validator decodes one kind and returns its errors and warnings.
type validator func(raw []byte) (field.ErrorList, []string, error)

var validators = map[string]validator{
	"VirtualService": check(func(o *networkingv1.VirtualService) (field.ErrorList, []string) {
		return validate.VirtualService(&o.Spec), validate.VirtualServiceWarnings(&o.Spec)
	}),
	"DestinationRule": check(func(o *networkingv1.DestinationRule) (field.ErrorList, []string) {
		return validate.DestinationRule(&o.Spec), validate.DestinationRuleWarnings(&o.Spec)
	}),
	"Sidecar": check(func(o *networkingv1.Sidecar) (field.ErrorList, []string) {
		return validate.Sidecar(&o.Spec), validate.SidecarWarnings(&o.Spec)
	}),
	"AuthorizationPolicy": check(func(o *securityv1.AuthorizationPolicy) (field.ErrorList, []string) {
		return validate.AuthorizationPolicy(&o.Spec), validate.AuthorizationPolicyWarnings(&o.Spec)
	}),
	"PeerAuthentication": check(func(o *securityv1.PeerAuthentication) (field.ErrorList, []string) {
		return validate.PeerAuthentication(&o.Spec), validate.PeerAuthenticationWarnings(&o.Spec)
	}),
	"Mesh": check(func(o *meshv1alpha1.Mesh) (field.ErrorList, []string) {
		return validate.Mesh(o.Name, &o.Spec), nil
	}),
}

// check adapts a typed validation to raw JSON.
func check[T any](f func(*T) (field.ErrorList, []string)) validator {
	return func(raw []byte) (field.ErrorList, []string, error) {
		obj := new(T)
		if err := json.Unmarshal(raw, obj); err != nil {
			return nil, nil, err
		}
		errs, warnings := f(obj)
		return errs, warnings, nil
	}
}

// Handle implements admission.Handler.
func (Handler) Handle(_ context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return admission.Allowed("")
	}
	v, ok := validators[req.Kind.Kind]
	if !ok {
		return admission.Allowed("not a kind meshd validates")
	}
	errs, warnings, err := v(req.Object.Raw)
	if err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decode %s: %w", req.Kind.Kind, err))
	}
	if len(errs) > 0 {
		return admission.Denied(Message(req.Kind.Kind, req.Namespace, req.Name, errs)).WithWarnings(warnings...)
	}
	return admission.Allowed("").WithWarnings(warnings...)
}

// Message lists every problem of an object, each with its field path.
func Message(kind, namespace, name string, errs field.ErrorList) string {
	parts := make([]string, len(errs))
	for i, e := range errs {
		parts[i] = e.Error()
	}
	return fmt.Sprintf("%s %s/%s is invalid: %s", kind, namespace, name, strings.Join(parts, "; "))
}
