package ztunnelgen

import (
	"encoding/base64"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	"github.com/meshd-io/meshd/internal/testutil"
	"github.com/meshd-io/meshd/internal/translate"
)

// TestGolden renders ztunnel's config for testdata/<case>.in.yaml (translated as the
// pipeline does, with its Pods, Nodes and Namespaces as workload inputs) and compares
// it with <case>.out.yaml. IP bytes are written as IP strings for review.
func TestGolden(t *testing.T) {
	testutil.GoldenCases(t, func(t *testing.T, in string) []byte {
		snap, eps, workloads := testutil.LoadMesh(t, in)
		out, _ := translate.Translate(snap)
		res := Generate(Input{IR: out, Workloads: workloads, Endpoints: eps})
		var doc strings.Builder
		for _, a := range res.Addresses {
			write(t, &doc, "Address "+a.Name, a.Resource)
		}
		for _, a := range res.Authorizations {
			write(t, &doc, "Authorization "+a.Name, a.Resource)
		}
		return []byte(doc.String())
	})
}

func write(t *testing.T, doc *strings.Builder, header string, m proto.Message) {
	t.Helper()
	j, err := protojson.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(j, &v); err != nil {
		t.Fatal(err)
	}
	y, err := yaml.Marshal(readableIPs(v, ""))
	if err != nil {
		t.Fatal(err)
	}
	doc.WriteString("--- # " + header + "\n")
	doc.Write(y)
}

// readableIPs replaces the base64 of IP bytes (fields address and addresses) by the IP.
func readableIPs(v any, key string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = readableIPs(e, k)
		}
	case []any:
		for i, e := range x {
			x[i] = readableIPs(e, key)
		}
	case string:
		if key != "address" && key != "addresses" {
			return x
		}
		if b, err := base64.StdEncoding.DecodeString(x); err == nil {
			if a, ok := netip.AddrFromSlice(b); ok {
				return a.String()
			}
		}
	}
	return v
}
