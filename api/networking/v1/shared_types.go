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

import "encoding/json"

// Types shared by VirtualService and DestinationRule. They mirror
// istio.io/api/networking/v1alpha3 (served as networking.istio.io/v1); JSON names are
// Istio's.
//
// Conventions: proto3 scalars are plain Go values with omitempty (zero == unset, as in
// Istio); google.protobuf wrapper values, messages and oneof members are pointers so
// that presence survives a round trip. uint32 fields clear controller-gen's int32 format
// (the API server would cap them at 2^31-1) and are bounded 0..4294967295 as in Istio.

// Duration is a google.protobuf.Duration in string form, e.g. "10s", "1.5s", "100ms", "1h".
type Duration string

// Double is a protobuf double: a JSON number, integral or fractional. Being a named type
// with MarshalJSON lets controller-gen emit type number without crd:allowDangerousTypes.
// +kubebuilder:validation:Type=number
// +kubebuilder:validation:Format=double
type Double float64

// MarshalJSON encodes d as a plain JSON number.
func (d Double) MarshalJSON() ([]byte, error) { return json.Marshal(float64(d)) }

// PortSelector specifies the number of a port to be used for matching or selection.
type PortSelector struct {
	// Valid port number.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=""
	Number uint32 `json:"number,omitempty"`
}

// Percent specifies a percentage in the range of [0.0, 100.0].
type Percent struct {
	// Percentage value.
	// +optional
	Value Double `json:"value,omitempty"`
}

// StringMatch specifies how to match a string: exactly, by prefix, or by RE2 regex.
// +kubebuilder:validation:XValidation:rule="has(self.exact) ? !(has(self.prefix) || has(self.regex)) : !(has(self.prefix) && has(self.regex))",message="only one of exact, prefix or regex may be set"
type StringMatch struct {
	// Exact string match.
	// +optional
	Exact *string `json:"exact,omitempty"`
	// Prefix-based match.
	// +optional
	Prefix *string `json:"prefix,omitempty"`
	// RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax).
	// +optional
	Regex *string `json:"regex,omitempty"`
}

// Headers describes header manipulations to apply to requests and responses.
type Headers struct {
	// Header manipulation rules to apply before forwarding a request to the destination.
	// +optional
	Request *HeaderOperations `json:"request,omitempty"`
	// Header manipulation rules to apply before returning a response to the caller.
	// +optional
	Response *HeaderOperations `json:"response,omitempty"`
}

// HeaderOperations describes the header manipulations to apply.
type HeaderOperations struct {
	// Overwrite the headers specified by key with the given values.
	// +optional
	Set map[string]string `json:"set,omitempty"`
	// Append the given values to the headers specified by keys.
	// +optional
	Add map[string]string `json:"add,omitempty"`
	// Remove the specified headers.
	// +optional
	Remove []string `json:"remove,omitempty"`
}
