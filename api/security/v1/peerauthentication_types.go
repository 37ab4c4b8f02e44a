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

// MutualTLSMode is the mTLS mode a workload accepts inbound traffic with.
// +kubebuilder:validation:Enum=UNSET;DISABLE;PERMISSIVE;STRICT
type MutualTLSMode string

const (
	// MTLSModeUnset inherits the mode from the parent policy (namespace, then mesh);
	// PERMISSIVE when nothing is set.
	MTLSModeUnset MutualTLSMode = "UNSET"
	// MTLSModeDisable accepts plaintext only.
	MTLSModeDisable MutualTLSMode = "DISABLE"
	// MTLSModePermissive accepts both mTLS and plaintext.
	MTLSModePermissive MutualTLSMode = "PERMISSIVE"
	// MTLSModeStrict accepts mTLS only.
	MTLSModeStrict MutualTLSMode = "STRICT"
)

// PeerAuthenticationSpec sets the mTLS mode workloads accept
// (istio.security.v1beta1.PeerAuthentication).
// +kubebuilder:validation:XValidation:rule="has(self.portLevelMtls) ? (((has(self.selector) && has(self.selector.matchLabels)) ? self.selector.matchLabels : {}).size() > 0) : true",message="portLevelMtls requires selector"
type PeerAuthenticationSpec struct {
	// Selector selects the workloads the policy applies to; unset means every workload
	// in the namespace (or in the mesh, for the root namespace).
	// +optional
	Selector *typev1beta1.WorkloadSelector `json:"selector,omitempty"`

	// MTLS is the mTLS setting of the selected workloads.
	// +optional
	MTLS *PeerAuthenticationMutualTLS `json:"mtls,omitempty"`

	// PortLevelMTLS overrides mtls per workload (container) port, keyed by port number.
	// Requires a selector.
	// +optional
	// +kubebuilder:validation:MinProperties=1
	// +kubebuilder:validation:XValidation:rule="self.all(key, key.matches('^[0-9]{1,5}$') && 0 < int(key) && int(key) <= 65535)",message="port must be between 1-65535"
	PortLevelMTLS map[string]PeerAuthenticationMutualTLS `json:"portLevelMtls,omitempty"`
}

// PeerAuthenticationMutualTLS is an mTLS setting.
type PeerAuthenticationMutualTLS struct {
	// Mode is the mTLS mode: UNSET (inherit), DISABLE, PERMISSIVE or STRICT.
	// +optional
	Mode MutualTLSMode `json:"mode,omitempty"`
}

// PeerAuthentication defines the mTLS mode workloads accept inbound traffic with.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:resource:shortName=pa,categories=istio-io;security-istio-io
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mtls.mode`,description="The mTLS mode of the workloads."
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type PeerAuthentication struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the peer authentication policy.
	// +optional
	Spec PeerAuthenticationSpec `json:"spec"`
	// Status is what meshd observed about the policy.
	// +optional
	Status typev1beta1.ConfigStatus `json:"status,omitempty"`
}

// PeerAuthenticationList contains a list of PeerAuthentication.
// +kubebuilder:object:root=true
type PeerAuthenticationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PeerAuthentication `json:"items"`
}

func init() {
	SchemeBuilder.Register(&PeerAuthentication{}, &PeerAuthenticationList{})
}
