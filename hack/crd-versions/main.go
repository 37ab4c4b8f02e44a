// Command crd-versions adds Istio's older served versions to the CRDs controller-gen
// generates from meshd's v1 types. Istio serves networking v1, v1beta1 and v1alpha3,
// and security v1 and v1beta1, all with one schema; conversion strategy None only
// rewrites apiVersion, so each older version is a served, non-storage copy of v1.
//
// usage: go run ./hack/crd-versions <crd folder>
package main

import (
	"fmt"
	"os"
	"path/filepath"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// extraVersions lists, per API group, the versions served besides the storage version.
var extraVersions = map[string][]string{
	"networking.istio.io": {"v1alpha3", "v1beta1"},
	"security.istio.io":   {"v1beta1"},
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: crd-versions <crd folder>")
		os.Exit(2)
	}
	files, err := filepath.Glob(filepath.Join(os.Args[1], "*.yaml"))
	if err != nil {
		fail(err)
	}
	for _, f := range files {
		if err := addVersions(f); err != nil {
			fail(fmt.Errorf("%s: %w", f, err))
		}
	}
}

func addVersions(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(raw, &crd); err != nil {
		return err
	}
	extra, ok := extraVersions[crd.Spec.Group]
	if !ok {
		return nil
	}
	var storage *apiextensionsv1.CustomResourceDefinitionVersion
	for i := range crd.Spec.Versions {
		if crd.Spec.Versions[i].Name == extra[0] {
			return nil // already added
		}
		if crd.Spec.Versions[i].Storage {
			storage = &crd.Spec.Versions[i]
		}
	}
	if storage == nil {
		return fmt.Errorf("no storage version")
	}
	versions := []apiextensionsv1.CustomResourceDefinitionVersion{}
	for _, name := range extra {
		v := *storage.DeepCopy()
		v.Name = name
		v.Storage = false
		v.Served = true
		versions = append(versions, v)
	}
	crd.Spec.Versions = append(versions, *storage)
	// Marshal without status: an empty CRD status is not omitted and means nothing here.
	out, err := yaml.Marshal(struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        metav1.ObjectMeta                            `json:"metadata"`
		Spec            apiextensionsv1.CustomResourceDefinitionSpec `json:"spec"`
	}{crd.TypeMeta, crd.ObjectMeta, crd.Spec})
	if err != nil {
		return err
	}
	return os.WriteFile(path, append([]byte("---\n"), out...), 0o644)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "crd-versions:", err)
	os.Exit(1)
}
