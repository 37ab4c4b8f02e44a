package render

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	previoushostsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	rawbufferv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/raw_buffer/v3"
	"google.golang.org/protobuf/proto"

	"github.com/meshd-io/meshd/internal/ir"
)

// Render hands some messages to many resources at once (EDS config sources, Istio's
// default retry policy, filters whose config never changes): a mesh has thousands of
// clusters and routes. That is safe only while nothing modifies a rendered message in
// place, which the compiler cannot check. VerifyShared can: the generators' tests call
// it after generating, and it fails when a shared message is no longer what it was
// made as.

// sharedMessages are the shared messages render makes when the package loads.
func sharedMessages() map[string]proto.Message {
	out := map[string]proto.Message{
		"the EDS config source":              clusterEDSSource,
		"the connect timeout":                clusterConnectTimeout,
		"the EDS discovery type":             &clusterv3.Cluster{ClusterDiscoveryType: edsType},
		"outlier detection's never-enforce":  neverEnforce,
		"outlier detection's always-enforce": alwaysEnforce,
		"the zero route timeout":             noTimeout,
		"auto-mTLS's tlsMode=istio match":    tlsModeIstio,
		"auto-mTLS's plaintext fallback":     tlsModeDisabled,
		"the TLS inspector":                  tlsInspector,
		"the HTTP inspector":                 httpInspector,
	}
	for _, f := range envoyHTTP {
		out["the HTTP filter every HCM ends with, "+f.GetName()] = f
	}
	return out
}

// pristine are the shared messages' bytes as made.
var pristine = func() map[string][]byte {
	out := map[string][]byte{}
	for name, m := range sharedMessages() {
		out[name] = mustMarshal(m)
	}
	return out
}()

func mustMarshal(m proto.Message) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// VerifyShared reports every shared message that is no longer what render made it
// as: some generator modified a rendered message in place.
func VerifyShared() error {
	var errs []error
	changed := func(what string) {
		errs = append(errs, fmt.Errorf("%s, shared by many resources, was modified after it was rendered", what))
	}
	shared := sharedMessages()
	for _, name := range slices.Sorted(maps.Keys(shared)) {
		if !bytes.Equal(mustMarshal(shared[name]), pristine[name]) {
			changed(name)
		}
	}
	if last := lastRetry.Load(); last != nil {
		k := last.key
		fresh := buildRetryPolicy(&ir.Retry{Attempts: k.attempts, RetryOn: k.retryOn, AvoidPreviousHosts: k.avoid})
		if !bytes.Equal(mustMarshal(last.policy), mustMarshal(fresh)) {
			changed("the last plain retry policy")
		}
	}
	for _, a := range []struct {
		name   string
		packed []byte
		m      proto.Message
	}{
		{"the packed raw buffer socket", rawBuffer().GetValue(), &rawbufferv3.RawBuffer{}},
		{"the packed previous-hosts predicate", previousHostsPredicate().GetValue(), &previoushostsv3.PreviousHostsPredicate{}},
	} {
		if !bytes.Equal(a.packed, mustMarshal(a.m)) {
			changed(a.name)
		}
	}
	meshTLSHeads.Range(func(protocol, head any) bool {
		ctx := istioMutual(ClusterSpec{Protocol: protocol.(string)}, nil)
		ctx.Sni = ""
		if !bytes.Equal(head.([]byte), MustAny(ctx).GetValue()) {
			changed("the auto-mTLS context head for " + protocol.(string))
		}
		return true
	})
	return errors.Join(errs...)
}
