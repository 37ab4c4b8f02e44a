/*
Copyright 2026 The meshd Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	typev1beta1 "github.com/meshd-io/meshd/api/type/v1beta1"
)

// AuthorizationPolicyAction is the action taken when a rule of an AuthorizationPolicy
// matches.
// +kubebuilder:validation:Enum=ALLOW;DENY;AUDIT;CUSTOM
type AuthorizationPolicyAction string

const (
	// ActionAllow allows a request only if it matches the rules. It is the default.
	ActionAllow AuthorizationPolicyAction = "ALLOW"
	// ActionDeny denies a request if it matches any of the rules.
	ActionDeny AuthorizationPolicyAction = "DENY"
	// ActionAudit audits a request if it matches any of the rules.
	ActionAudit AuthorizationPolicyAction = "AUDIT"
	// ActionCustom delegates the decision to the extension provider in provider.name.
	ActionCustom AuthorizationPolicyAction = "CUSTOM"
)

// AuthorizationPolicySpec is the access control policy of the selected workloads
// (istio.security.v1beta1.AuthorizationPolicy).
//
// Selector, targetRef and targetRefs are mutually exclusive (Istio CRD rule); the other
// rules below come from istiod's validation webhook, which meshd does not run.
// +kubebuilder:validation:XValidation:rule="(has(self.selector) ? 1 : 0) + (has(self.targetRef) ? 1 : 0) + (has(self.targetRefs) ? 1 : 0) <= 1",message="only one of targetRefs or selector can be set"
// +kubebuilder:validation:XValidation:rule="!has(self.provider) || (has(self.action) && self.action == 'CUSTOM')",message="provider must not be set with a non CUSTOM action",fieldPath=".provider"
// +kubebuilder:validation:XValidation:rule="!has(self.action) || self.action != 'CUSTOM' || (has(self.provider) && has(self.provider.name) && self.provider.name.size() > 0)",message="provider.name must be set with the CUSTOM action",fieldPath=".provider"
// +kubebuilder:validation:XValidation:rule="!has(self.action) || !(self.action in ['DENY', 'CUSTOM']) || has(self.rules)",message="DENY and CUSTOM actions without rules are never triggered; add an empty rule {} to match every request",fieldPath=".rules"
type AuthorizationPolicySpec struct {
	// Selector selects the workloads the policy applies to; unset means every workload
	// in the namespace (or in the mesh, for the root namespace).
	// +optional
	Selector *typev1beta1.WorkloadSelector `json:"selector,omitempty"`

	// TargetRef is the single resource the policy applies to. Deprecated upstream in
	// favour of targetRefs.
	// +optional
	// +kubebuilder:validation:XValidation:rule="(self.kind == 'Service' && (!has(self.group) || self.group in ['', 'core'])) || (self.kind == 'ServiceEntry' && has(self.group) && self.group == 'networking.istio.io') || (self.kind in ['Gateway', 'GatewayClass'] && has(self.group) && self.group == 'gateway.networking.k8s.io')",message="targetRef must be to one of core/Service, networking.istio.io/ServiceEntry, gateway.networking.k8s.io/Gateway, gateway.networking.k8s.io/GatewayClass"
	TargetRef *typev1beta1.PolicyTargetReference `json:"targetRef,omitempty"`

	// TargetRefs are the resources the policy applies to (Gateways, Services,
	// ServiceEntries, GatewayClasses).
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:XValidation:rule="self.all(r, (r.kind == 'Service' && (!has(r.group) || r.group in ['', 'core'])) || (r.kind == 'ServiceEntry' && has(r.group) && r.group == 'networking.istio.io') || (r.kind in ['Gateway', 'GatewayClass'] && has(r.group) && r.group == 'gateway.networking.k8s.io'))",message="targetRef must be to one of core/Service, networking.istio.io/ServiceEntry, gateway.networking.k8s.io/Gateway, gateway.networking.k8s.io/GatewayClass"
	TargetRefs []typev1beta1.PolicyTargetReference `json:"targetRefs,omitempty"`

	// Rules match requests. An ALLOW policy with no rules denies everything; a rule
	// that is empty ({}) matches every request.
	// +optional
	// +kubebuilder:validation:MaxItems=512
	Rules []Rule `json:"rules,omitempty"`

	// Action taken when a rule matches: ALLOW (default), DENY, AUDIT or CUSTOM.
	// +optional
	Action AuthorizationPolicyAction `json:"action,omitempty"`

	// Provider is the extension provider that decides requests for the CUSTOM action.
	// +optional
	Provider *AuthorizationPolicyProvider `json:"provider,omitempty"`
}

// AuthorizationPolicyProvider names the extension provider of a CUSTOM policy.
type AuthorizationPolicyProvider struct {
	// Name of an extension provider defined in the mesh config (Mesh.spec.extensionProviders).
	// +optional
	Name string `json:"name,omitempty"`
}

// Rule matches a request when all of from, to and when match; an unset field matches
// anything. String values support exact, prefix ("abc*"), suffix ("*abc") and
// presence ("*") matching.
type Rule struct {
	// From lists the request sources; any one must match.
	// +optional
	// +kubebuilder:validation:MaxItems=512
	From []RuleFrom `json:"from,omitempty"`

	// To lists the request operations; any one must match.
	// +optional
	To []RuleTo `json:"to,omitempty"`

	// When lists additional conditions; all must match.
	// +optional
	When []Condition `json:"when,omitempty"`
}

// RuleFrom holds one source of a rule.
type RuleFrom struct {
	// Source is the source of a request.
	// +optional
	Source *Source `json:"source,omitempty"`
}

// RuleTo holds one operation of a rule.
type RuleTo struct {
	// Operation is the operation of a request.
	// +optional
	Operation *Operation `json:"operation,omitempty"`
}

// Source matches the source identity of a request. Within a source all set fields
// must match.
// +kubebuilder:validation:XValidation:rule="(has(self.serviceAccounts) || has(self.notServiceAccounts)) ? (!has(self.principals) && !has(self.notPrincipals) && !has(self.namespaces) && !has(self.notNamespaces)) : true",message="Cannot set serviceAccounts with namespaces or principals"
type Source struct {
	// Principals are peer identities ("<trust-domain>/ns/<ns>/sa/<sa>"), matching source.principal.
	// +optional
	Principals []string `json:"principals,omitempty"`
	// NotPrincipals is the negation of principals.
	// +optional
	NotPrincipals []string `json:"notPrincipals,omitempty"`

	// RequestPrincipals are request identities ("<iss>/<sub>"), matching request.auth.principal.
	// +optional
	RequestPrincipals []string `json:"requestPrincipals,omitempty"`
	// NotRequestPrincipals is the negation of requestPrincipals.
	// +optional
	NotRequestPrincipals []string `json:"notRequestPrincipals,omitempty"`

	// Namespaces match the namespace of the peer (source.namespace); mTLS required.
	// +optional
	Namespaces []string `json:"namespaces,omitempty"`
	// NotNamespaces is the negation of namespaces.
	// +optional
	NotNamespaces []string `json:"notNamespaces,omitempty"`

	// ServiceAccounts match the peer's service account ("<ns>/<sa>" or "<sa>" in the
	// policy's namespace). Cannot be combined with principals or namespaces.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=320
	ServiceAccounts []string `json:"serviceAccounts,omitempty"`
	// NotServiceAccounts is the negation of serviceAccounts.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=320
	NotServiceAccounts []string `json:"notServiceAccounts,omitempty"`

	// IPBlocks are IPs or CIDRs matching the peer address (source.ip).
	// +optional
	IPBlocks []string `json:"ipBlocks,omitempty"`
	// NotIPBlocks is the negation of ipBlocks.
	// +optional
	NotIPBlocks []string `json:"notIpBlocks,omitempty"`

	// RemoteIPBlocks are IPs or CIDRs matching the original client address
	// (remote.ip, from X-Forwarded-For or PROXY protocol).
	// +optional
	RemoteIPBlocks []string `json:"remoteIpBlocks,omitempty"`
	// NotRemoteIPBlocks is the negation of remoteIpBlocks.
	// +optional
	NotRemoteIPBlocks []string `json:"notRemoteIpBlocks,omitempty"`
}

// Operation matches the operation of a request. Within an operation all set fields
// must match.
type Operation struct {
	// Hosts match the request host (request.host). HTTP only.
	// +optional
	Hosts []string `json:"hosts,omitempty"`
	// NotHosts is the negation of hosts.
	// +optional
	NotHosts []string `json:"notHosts,omitempty"`

	// Ports match the destination port (destination.port), as strings.
	// +optional
	Ports []string `json:"ports,omitempty"`
	// NotPorts is the negation of ports.
	// +optional
	NotPorts []string `json:"notPorts,omitempty"`

	// Methods match the HTTP method, or the gRPC "/package.service/method". HTTP only.
	// +optional
	Methods []string `json:"methods,omitempty"`
	// NotMethods is the negation of methods.
	// +optional
	NotMethods []string `json:"notMethods,omitempty"`

	// Paths match the request path (request.url_path). HTTP only.
	// +optional
	Paths []string `json:"paths,omitempty"`
	// NotPaths is the negation of paths.
	// +optional
	NotPaths []string `json:"notPaths,omitempty"`
}

// Condition matches an Istio attribute of the request against values.
// +kubebuilder:validation:XValidation:rule="has(self.values) || has(self.notValues)",message="at least one of values or notValues must be set"
type Condition struct {
	// Key is the name of an Istio attribute, e.g. request.auth.claims[iss].
	// +kubebuilder:validation:MinLength=1
	Key string `json:"key"`

	// Values are the allowed values of the attribute; any one must match.
	// +optional
	Values []string `json:"values,omitempty"`

	// NotValues is the negation of values.
	// +optional
	NotValues []string `json:"notValues,omitempty"`
}

// AuthorizationPolicy enables access control on workloads in the mesh.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:resource:shortName=ap,categories=istio-io;security-istio-io
// +kubebuilder:printcolumn:name="Action",type=string,JSONPath=`.spec.action`,description="The action taken when a rule matches."
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AuthorizationPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the access control policy.
	// +optional
	Spec AuthorizationPolicySpec `json:"spec"`
	// Status is what meshd observed about the policy.
	// +optional
	Status typev1beta1.ConfigStatus `json:"status,omitempty"`
}

// AuthorizationPolicyList contains a list of AuthorizationPolicy.
// +kubebuilder:object:root=true
type AuthorizationPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AuthorizationPolicy `json:"items"`
}

func init() {
	SchemeBuilder.Register(&AuthorizationPolicy{}, &AuthorizationPolicyList{})
}
