package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/status"

	"github.com/meshd-io/meshd/internal/testutil"
	"github.com/meshd-io/meshd/internal/testutil/grpcxds"
)

// TestTrafficMutualTLSAndPrincipals: every certificate here comes from meshd's CA,
// requested with a service-account token as Istio's agent does. A backend under
// PeerAuthentication STRICT serves mesh mTLS only: a client whose DestinationRule says
// ISTIO_MUTUAL gets through, a plaintext client does not. An AuthorizationPolicy on
// principals then admits the productpage identity and refuses another one.
func TestTrafficMutualTLSAndPrincipals(t *testing.T) {
	f := newMeshFixture(t)
	f.apply(peerAuthentication("reviews-mtls", "reviews", "STRICT"))
	f.addXDSBackendWith("reviews-v1", "v1", meshCertProviders(t, f.ns, "reviews"))
	plain := f.client("client-plain")
	productpage := f.clientWithCerts("client-productpage", meshCertProviders(t, f.ns, "productpage"))
	intruder := f.clientWithCerts("client-intruder", meshCertProviders(t, f.ns, "intruder"))
	f.apply(`
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews-mtls}
spec:
  host: reviews
  trafficPolicy:
    tls: {mode: ISTIO_MUTUAL}
`)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	outcome := func(c *grpcxds.Client) string {
		callCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if _, _, err := c.Call(callCtx, nil); err != nil {
			return status.Code(err).String()
		}
		return "OK"
	}
	expect := func(step string, want map[*grpcxds.Client]string) {
		t.Helper()
		testutil.Eventually(t, 45*time.Second, func() error {
			for c, w := range want {
				if got := outcome(c); got != w {
					return fmt.Errorf("%s: %s got %s, want %s", step, c.Config().NodeID, got, w)
				}
			}
			return nil
		})
	}
	expect("STRICT", map[*grpcxds.Client]string{productpage: "OK", intruder: "OK"})
	if got := outcome(plain); got == "OK" {
		t.Errorf("a plaintext client reached a STRICT workload")
	}
	f.apply(fmt.Sprintf(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews-from-productpage}
spec:
  selector: {matchLabels: {app: reviews}}
  rules:
  - from: [{source: {principals: [cluster.local/ns/%s/sa/productpage]}}]
`, f.ns))
	expect("ALLOW productpage", map[*grpcxds.Client]string{productpage: "OK", intruder: "PermissionDenied"})

	// A namespace source is matched on the peer's SPIFFE identity too.
	f.apply(fmt.Sprintf(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews-from-productpage}
spec:
  selector: {matchLabels: {app: reviews}}
  rules:
  - from: [{source: {namespaces: [%s]}}]
`, f.ns))
	expect("ALLOW namespace", map[*grpcxds.Client]string{productpage: "OK", intruder: "OK"})
	f.apply(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews-from-productpage}
spec:
  selector: {matchLabels: {app: reviews}}
  rules:
  - from: [{source: {namespaces: [elsewhere]}}]
`)
	expect("ALLOW another namespace", map[*grpcxds.Client]string{productpage: "PermissionDenied", intruder: "PermissionDenied"})
	f.deleteObject("security.istio.io", "v1", "AuthorizationPolicy", "reviews-from-productpage")

	// PERMISSIVE takes plaintext too (grpc-go serves one or the other per port, so a
	// permissive proxyless server serves plaintext, and mTLS clients fall back).
	f.apply(peerAuthentication("reviews-mtls", "reviews", "PERMISSIVE"))
	f.deleteObject("networking.istio.io", "v1", "DestinationRule", "reviews-mtls")
	expect("PERMISSIVE", map[*grpcxds.Client]string{plain: "OK", productpage: "OK"})
}
