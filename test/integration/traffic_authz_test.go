package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meshd-io/meshd/internal/testutil"
)

// TestTrafficAuthorizationPolicy: a backend that is a proxyless gRPC xDS server gets
// its inbound listener from meshd with the AuthorizationPolicies that select it by
// label; grpc-go enforces them on real calls. ALLOW admits only the listed method;
// switching to DENY refuses that method and lets the rest through; deleting the policy
// opens everything again.
func TestTrafficAuthorizationPolicy(t *testing.T) {
	f := newMeshFixture(t)
	f.addXDSBackend("reviews-v1", "v1")
	c := f.client("client-authz")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	policy := func(action, method string) string {
		return fmt.Sprintf(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews-methods}
spec:
  selector: {matchLabels: {app: reviews}}
  action: %s
  rules:
  - to: [{operation: {paths: ["/grpc.testing.TestService/%s"]}}]
`, action, method)
	}
	// outcome is what UnaryCall and EmptyCall get: OK or the status code's name.
	outcome := func() (string, string) {
		code := func(err error) string {
			if err == nil {
				return "OK"
			}
			return status.Code(err).String()
		}
		_, _, errU := c.Call(ctx, nil)
		_, _, errE := c.EmptyCall(ctx, nil)
		return code(errU), code(errE)
	}
	expect := func(step, unary, empty string) {
		t.Helper()
		start := time.Now()
		testutil.Eventually(t, 30*time.Second, func() error {
			if u, e := outcome(); u != unary || e != empty {
				return fmt.Errorf("%s: UnaryCall %s, EmptyCall %s; want %s, %s", step, u, e, unary, empty)
			}
			return nil
		})
		t.Logf("%s: enforced %v after the write", step, time.Since(start).Round(time.Millisecond))
	}

	expect("no policy", "OK", "OK")
	f.apply(policy("ALLOW", "EmptyCall"))
	expect("ALLOW EmptyCall", codes.PermissionDenied.String(), "OK")
	f.apply(policy("DENY", "EmptyCall"))
	expect("DENY EmptyCall", "OK", codes.PermissionDenied.String())
	f.deleteObject("security.istio.io", "v1", "AuthorizationPolicy", "reviews-methods")
	expect("policy deleted", "OK", "OK")

	// The empty policy cases: spec {} allows nothing; rules [{}] allows everything.
	f.apply(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews-empty}
spec:
  selector: {matchLabels: {app: reviews}}
`)
	expect("ALLOW with no rules", codes.PermissionDenied.String(), codes.PermissionDenied.String())
	f.apply(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews-empty}
spec:
  selector: {matchLabels: {app: reviews}}
  rules: [{}]
`)
	expect("ALLOW with an empty rule", "OK", "OK")

	// A header condition: DENY calls that carry x-canary: yes (gRPC metadata is headers).
	f.apply(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews-no-canary}
spec:
  selector: {matchLabels: {app: reviews}}
  action: DENY
  rules:
  - when: [{key: "request.headers[x-canary]", values: ["yes"]}]
`)
	testutil.Eventually(t, 30*time.Second, func() error {
		_, _, errCanary := c.Call(ctx, mdOf(map[string]string{"x-canary": "yes"}))
		_, _, errPlain := c.Call(ctx, nil)
		if status.Code(errCanary) != codes.PermissionDenied || errPlain != nil {
			var nacks []string
			for _, p := range env.XDSProxies() {
				for t, n := range p.Nacked {
					nacks = append(nacks, p.NodeID+" "+t+": "+n.Message)
				}
			}
			return fmt.Errorf("with x-canary: %v; without: %v; NACKs: %v", errCanary, errPlain, nacks)
		}
		return nil
	})
}
