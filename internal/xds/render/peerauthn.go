package render

import (
	"maps"
	"slices"

	"github.com/meshd-io/meshd/internal/ir"
)

// MTLS is what a workload's inbound side accepts: a mode for every port, with
// per-port exceptions.
type MTLS struct {
	Mode  string
	Ports map[uint32]string
	// PortsFrom is the workload's own PeerAuthentication, which set Ports.
	PortsFrom ir.ConfigRef
}

// PortNumbers are the ports with their own mode, sorted.
func (m MTLS) PortNumbers() []uint32 { return slices.Sorted(maps.Keys(m.Ports)) }

// WorkloadMTLS resolves PeerAuthentications for the scope's workload as Istio does: the
// workload's own (selector matches, in its namespace) over its namespace's over the
// mesh's (root namespace, no selector), the oldest winning within a level; UNSET
// inherits from the level above; PERMISSIVE when nothing says otherwise. Port-level
// modes come from the workload's policy; an UNSET port inherits the workload's mode.
func WorkloadMTLS(in *ir.IR, scope Scope) MTLS {
	out := MTLS{Mode: ir.MTLSPermissive}
	pick := func(match func(*ir.PeerAuthn) bool) *ir.PeerAuthn {
		for _, pa := range in.PeerAuthentications {
			if match(pa) {
				return pa
			}
		}
		return nil
	}
	mesh := pick(func(pa *ir.PeerAuthn) bool { return pa.Namespace == in.RootNamespace && pa.Selector == nil })
	namespace := pick(func(pa *ir.PeerAuthn) bool { return pa.Namespace == scope.Namespace && pa.Selector == nil })
	workload := pick(func(pa *ir.PeerAuthn) bool {
		return pa.Namespace == scope.Namespace && pa.Selector != nil && ir.Selects(pa.Selector, scope.Labels)
	})
	for _, pa := range []*ir.PeerAuthn{mesh, namespace, workload} {
		if pa != nil && pa.Mode != "" {
			out.Mode = pa.Mode
		}
	}
	if workload != nil {
		if len(workload.PortModes) > 0 {
			out.PortsFrom = workload.Source
		}
		for port, mode := range workload.PortModes {
			if mode == "" {
				mode = out.Mode
			}
			if out.Ports == nil {
				out.Ports = map[uint32]string{}
			}
			out.Ports[port] = mode
		}
	}
	return out
}
