package translate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/testutil"
)

// TestPanicContained: a panic while translating one object marks that object not
// accepted, with the panic's message, and every other object still translates.
func TestPanicContained(t *testing.T) {
	bad := ir.ConfigRef{Kind: "VirtualService", Namespace: "default", Name: "reviews"}
	badDR := ir.ConfigRef{Kind: "DestinationRule", Namespace: "default", Name: "reviews"}
	panicHook = func(ref ir.ConfigRef) {
		if ref == bad || ref == badDR {
			panic("boom")
		}
	}
	defer func() { panicHook = nil }()
	path := filepath.Join(t.TempDir(), "mesh.yaml")
	mesh := `
apiVersion: v1
kind: Service
metadata: {name: reviews}
spec: {clusterIP: 10.0.0.1, ports: [{name: http, port: 9080}]}
---
apiVersion: v1
kind: Service
metadata: {name: ratings}
spec: {clusterIP: 10.0.0.2, ports: [{name: http, port: 9080}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec: {hosts: [reviews], http: [{route: [{destination: {host: reviews}}]}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec: {host: reviews}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings}
spec: {hosts: [ratings], http: [{route: [{destination: {host: ratings}}]}]}
`
	if err := os.WriteFile(path, []byte(mesh), 0o600); err != nil {
		t.Fatal(err)
	}
	snap, _ := testutil.LoadSnapshot(t, path)
	// The VirtualService and the DestinationRule share a name; their generations differ.
	for _, vs := range snap.VirtualServices {
		if vs.Name == bad.Name {
			vs.Generation = 3
		}
	}
	for _, dr := range snap.DestinationRules {
		dr.Generation = 7
	}
	out, report := Translate(snap)
	rep := report.Objects[bad]
	if rep == nil || len(rep.Invalid) != 1 || !strings.Contains(rep.Invalid[0].Error(), "boom") {
		t.Fatalf("the panicking VirtualService's report: %+v", rep)
	}
	if c := rep.Conditions()[0]; c.Status != "False" || !strings.Contains(c.Message, "translation failed") || c.ObservedGeneration != 3 {
		t.Errorf("its Accepted condition: %+v (want False at the VirtualService's generation 3)", c)
	}
	if c := report.Objects[badDR].Conditions()[0]; c.Status != "False" || c.ObservedGeneration != 7 {
		t.Errorf("the panicking DestinationRule's Accepted condition: %+v (want False at its own generation 7, not the VirtualService's)", c)
	}
	others := 0
	for ref, r := range report.Objects {
		if ref != bad && ref != badDR && len(r.Invalid) == 0 {
			others++
		}
	}
	routed := 0
	for _, svc := range out.Services {
		for _, p := range svc.Ports {
			for _, tbl := range p.RouteTables {
				if tbl.Source == bad {
					t.Errorf("the panicking VirtualService still routes %s", svc.Hostname)
				}
				routed++
			}
		}
	}
	if others == 0 || routed == 0 {
		t.Errorf("nothing else translated: %d other objects, %d route tables", others, routed)
	}
}
