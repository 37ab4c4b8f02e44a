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

// Package v1beta1 holds the types Istio shares between its API groups
// (istio.io/api/type/v1beta1): workload selectors, policy target references, and the
// status every meshd-managed Istio object carries.
// +kubebuilder:object:generate=true
package v1beta1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// WorkloadSelector selects the pods (and VMs) a namespaced policy applies to by label.
type WorkloadSelector struct {
	// One or more labels that indicate a specific set of pods/VMs on which a policy
	// should be applied. The scope of label search is restricted to the configuration
	// namespace in which the resource is present.
	// Keys and values follow Kubernetes label syntax, without wildcards; meshd's
	// validation checks values (a CEL rule over every value of a 4096-entry map would
	// exceed the API server's cost budget).
	// +optional
	// +kubebuilder:validation:MaxProperties=4096
	// +kubebuilder:validation:XValidation:rule="self.all(key, !key.contains('*'))",message="wildcard not allowed in label key match"
	// +kubebuilder:validation:XValidation:rule="self.all(key, key.size() != 0)",message="key must not be empty"
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
}

// PolicyTargetReference names the resource a policy attaches to (a Gateway API
// Gateway, a Service, a ServiceEntry or a GatewayClass).
type PolicyTargetReference struct {
	// Group of the target resource; empty means the core API group.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Group string `json:"group,omitempty"`
	// Kind is the kind of the target resource.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$`
	Kind string `json:"kind"`
	// Name is the name of the target resource.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Namespace is the namespace of the referent; it must equal the policy's own
	// namespace when set (cross-namespace references are not allowed).
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.size() == 0",message="cross namespace referencing is not currently supported"
	Namespace string `json:"namespace,omitempty"`
}

// ConfigStatus is what meshd reports on every Istio object it manages: the generation
// it last processed and conditions such as Accepted, ResolvedRefs and Programmed.
type ConfigStatus struct {
	// ObservedGeneration is the metadata.generation meshd last processed.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions describe the current state of the object as meshd sees it.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
}

// Condition types and reasons meshd writes.
const (
	// ConditionAccepted is True when the object passed semantic validation and meshd
	// uses it.
	ConditionAccepted = "Accepted"
	// ConditionResolvedRefs is True when everything the object references exists.
	ConditionResolvedRefs = "ResolvedRefs"
	// ConditionProgrammed is True when the config derived from the object reached the
	// proxies it applies to.
	ConditionProgrammed = "Programmed"
	// ConditionWorkloadsSelected is True when a workload policy (AuthorizationPolicy,
	// PeerAuthentication) selects at least one running pod.
	ConditionWorkloadsSelected = "WorkloadsSelected"

	ReasonAccepted = "Accepted"
	ReasonInvalid  = "Invalid"
)
