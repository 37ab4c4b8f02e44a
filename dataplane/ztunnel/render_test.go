package ztunnel

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	meshv1alpha1 "github.com/meshd-io/meshd/api/meshd/v1alpha1"
	"github.com/meshd-io/meshd/dataplane/internal/manifest"
	"github.com/meshd-io/meshd/internal/testutil"
)

// TestRenderGolden renders the Mesh of each testdata/<case>.in.yaml (with defaults)
// into istio-system.
func TestRenderGolden(t *testing.T) {
	testutil.GoldenCases(t, func(t *testing.T, path string) []byte {
		docs, err := testutil.DecodeFile(path)
		if err != nil || len(docs) != 1 {
			t.Fatalf("%s: %v (%d documents)", path, err, len(docs))
		}
		mesh := &meshv1alpha1.Mesh{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(docs[0].Object, mesh); err != nil {
			t.Fatal(err)
		}
		objs := Render(mesh.Spec.WithDefaults(), "istio-system", "meshd-xds.istio-system.svc:15012")
		out, err := manifest.YAML(objs)
		if err != nil {
			t.Fatal(err)
		}
		if len(objs) == 0 {
			return []byte("# nothing rendered\n")
		}
		return out
	})
}
