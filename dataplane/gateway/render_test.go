package gateway

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	meshv1alpha1 "github.com/meshd-io/meshd/api/meshd/v1alpha1"
	"github.com/meshd-io/meshd/dataplane/internal/manifest"
	"github.com/meshd-io/meshd/internal/testutil"
)

// TestRenderGolden renders each testdata/<case>.in.yaml (a Gateway, optionally a Mesh
// whose proxy settings and trust domain are used) into <case>.out.yaml: the objects as
// they are applied, or the error.
func TestRenderGolden(t *testing.T) {
	testutil.GoldenCases(t, func(t *testing.T, path string) []byte {
		in := readInput(t, path)
		objs, err := Render(in)
		if err != nil {
			return []byte("error: " + err.Error() + "\n")
		}
		again, err := Render(in)
		if err != nil {
			t.Fatal(err)
		}
		out, err := manifest.YAML(objs)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := manifest.YAML(again); string(b) != string(out) {
			t.Error("two renders of one input differ")
		}
		return out
	})
}

func readInput(t *testing.T, path string) Input {
	t.Helper()
	docs, err := testutil.DecodeFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var in Input
	for _, d := range docs {
		switch d.GetKind() {
		case "Gateway":
			gw := &gatewayv1.Gateway{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(d.Object, gw); err != nil {
				t.Fatal(err)
			}
			in.Gateway = gw
		case "Mesh":
			mesh := &meshv1alpha1.Mesh{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(d.Object, mesh); err != nil {
				t.Fatal(err)
			}
			in.Proxy, in.TrustDomain = mesh.Spec.Proxy, mesh.Spec.TrustDomain
		default:
			t.Fatalf("%s: unexpected kind %s", path, d.GetKind())
		}
	}
	return in
}

func TestRenderRejects(t *testing.T) {
	gw := func(name, class string) *gatewayv1.Gateway {
		g := &gatewayv1.Gateway{}
		g.Name, g.Namespace, g.Spec.GatewayClassName = name, "default", gatewayv1.ObjectName(class)
		return g
	}
	reservedPort := gw("gw", ClassIstio)
	reservedPort.Spec.Listeners = []gatewayv1.Listener{{Name: "status", Port: 15021, Protocol: gatewayv1.HTTPProtocolType}}
	badFor := gw("wp", ClassWaypoint)
	badFor.Labels = map[string]string{LabelWaypointFor: "everything"}
	for _, tc := range []struct {
		name string
		gw   *gatewayv1.Gateway
		want string
	}{
		{"nil", nil, "no Gateway"},
		{"other class", gw("gw", "other"), `spec.gatewayClassName: meshd deploys proxies for classes istio and istio-waypoint, not "other"`},
		{"long name", gw(strings.Repeat("a", 60), ClassIstio), "metadata.name: the proxy's Service would be named"},
		{"label-unsafe name", gw(strings.Repeat("a", 64), ClassWaypoint), "cannot label the proxy"},
		{"reserved port", reservedPort, "spec.listeners[0].port: 15021 is used by the proxy itself"},
		{"waypoint-for", badFor, `metadata.labels[istio.io/waypoint-for]: "everything" is not one of service, workload, all, none`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Render(Input{Gateway: tc.gw})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestResourceName(t *testing.T) {
	for class, want := range map[string]string{ClassIstio: "gw-istio", ClassWaypoint: "gw"} {
		g := &gatewayv1.Gateway{}
		g.Name, g.Spec.GatewayClassName = "gw", gatewayv1.ObjectName(class)
		if got := ResourceName(g); got != want {
			t.Errorf("%s: %s, want %s", class, got, want)
		}
	}
}

func TestPortProtocol(t *testing.T) {
	for in, want := range map[gatewayv1.ProtocolType]string{
		"HTTP":                             "http",
		"HTTPS":                            "https",
		"example.com/My.Proto":             "my-proto",
		"example.com/verylongprotocolname": "verylongp",
		"///":                              "port",
	} {
		if got := portProtocol(in); got != want {
			t.Errorf("portProtocol(%q) = %q, want %q", in, got, want)
		}
		if name := fmt.Sprintf("%s-%d", portProtocol(in), 65535); len(name) > 15 {
			t.Errorf("port name %q is longer than 15", name)
		}
	}
}
