package xds

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	meshv1alpha1 "github.com/meshd-io/meshd/api/meshd/v1alpha1"
	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
	securityv1 "github.com/meshd-io/meshd/api/security/v1"
	"github.com/meshd-io/meshd/internal/model"
	"github.com/meshd-io/meshd/internal/testutil"
	"github.com/meshd-io/meshd/internal/translate"
	"github.com/meshd-io/meshd/internal/validate"
	"github.com/meshd-io/meshd/internal/xds/render"
)

// fuzzWorld is the mesh a fuzzed object joins: the services, endpoints and Gateway of
// a golden case, so references can resolve.
const fuzzWorld = "gatewaygen/testdata/ingress.in.yaml"

// seedDocs adds every document of the golden inputs whose kind is kind as a seed.
func seedDocs(f *testing.F, kind string) {
	paths, _ := filepath.Glob("*/testdata/*.in.yaml")
	more, _ := filepath.Glob("../translate/testdata/*.in.yaml")
	for _, p := range append(paths, more...) {
		raw, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for _, doc := range strings.Split(string(raw), "\n---") {
			if strings.Contains(doc, "kind: "+kind+"\n") {
				f.Add(doc)
			}
		}
	}
}

// FuzzTranslateAndGenerate: any VirtualService, DestinationRule, AuthorizationPolicy or
// PeerAuthentication that validation accepts translates without panicking, and every
// proxy class's resources for it pass Envoy's own validation (ValidateAll).
func FuzzTranslateAndGenerate(f *testing.F) {
	for _, k := range []string{"VirtualService", "DestinationRule", "AuthorizationPolicy", "PeerAuthentication"} {
		seedDocs(f, k)
	}
	world, eps := testutil.LoadSnapshot(f, fuzzWorld)
	f.Fuzz(func(t *testing.T, doc string) {
		in, ok := acceptedInput(doc)
		if !ok {
			return
		}
		in.Services = world.SortedServices()
		in.GatewayAPI = world.GatewayAPI
		out, _ := translate.Translate(model.NewSnapshot(in))
		for _, ns := range []string{"shop", "edge", "default"} {
			for class, gen := range generators {
				scope := render.Scope{Namespace: ns}
				if class == ClassGateway {
					scope = render.Scope{Namespace: "edge", Gateway: "web"}
				}
				res := gen.generate(out, scope, nil)
				checkValid(t, class, res, eps, gen.flavor, scope)
			}
		}
	})
}

// acceptedInput decodes a document of one of the Istio kinds and keeps it only when
// validation accepts it.
func acceptedInput(doc string) (model.Inputs, bool) {
	var head struct{ Kind string }
	if yaml.Unmarshal([]byte(doc), &head) != nil {
		return model.Inputs{}, false
	}
	var in model.Inputs
	switch head.Kind {
	case "VirtualService":
		o := &networkingv1.VirtualService{}
		if yaml.Unmarshal([]byte(doc), o) != nil || len(validate.VirtualService(&o.Spec)) > 0 {
			return in, false
		}
		in.VirtualServices = []*networkingv1.VirtualService{withNamespace(o)}
	case "DestinationRule":
		o := &networkingv1.DestinationRule{}
		if yaml.Unmarshal([]byte(doc), o) != nil || len(validate.DestinationRule(&o.Spec)) > 0 {
			return in, false
		}
		in.DestinationRules = []*networkingv1.DestinationRule{withNamespace(o)}
	case "AuthorizationPolicy":
		o := &securityv1.AuthorizationPolicy{}
		if yaml.Unmarshal([]byte(doc), o) != nil || len(validate.AuthorizationPolicy(&o.Spec)) > 0 {
			return in, false
		}
		in.AuthorizationPolicies = []*securityv1.AuthorizationPolicy{withNamespace(o)}
	case "PeerAuthentication":
		o := &securityv1.PeerAuthentication{}
		if yaml.Unmarshal([]byte(doc), o) != nil || len(validate.PeerAuthentication(&o.Spec)) > 0 {
			return in, false
		}
		in.PeerAuthentications = []*securityv1.PeerAuthentication{withNamespace(o)}
	default:
		return in, false
	}
	in.Mesh = &meshv1alpha1.MeshSpec{}
	return in, true
}

func withNamespace[T interface {
	GetNamespace() string
	SetNamespace(string)
}](o T) T {
	if o.GetNamespace() == "" {
		o.SetNamespace("shop")
	}
	return o
}

// checkValid fails on any generated resource Envoy would reject.
func checkValid(t *testing.T, class string, res *render.Resources, eps model.EndpointIndex, f render.Flavor, scope render.Scope) {
	t.Helper()
	type validator interface{ ValidateAll() error }
	for _, m := range res.Messages(eps, f, scope) {
		v := m.(validator)
		if err := v.ValidateAll(); err != nil {
			t.Fatalf("%s proxies in %s get an invalid %T: %v", class, scope.Namespace, v, err)
		}
	}
}
