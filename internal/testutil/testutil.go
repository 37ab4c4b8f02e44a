// Package testutil holds helpers the envtest integration tests share: starting the
// real API server with meshd's CRDs and manager, decoding YAML manifests, and waiting
// for a condition.
package testutil

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// RepoRoot is the folder holding go.mod, found from this source file's location.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// AssetsDir returns KUBEBUILDER_ASSETS, or explains how to get it. envtest's binaries
// are built by `make envtest`; `make test` sets the variable.
func AssetsDir() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		return "", errors.New("KUBEBUILDER_ASSETS is not set: run the tests with `make test`, which builds kube-apiserver and etcd and sets it")
	}
	return dir, nil
}

// Kubectl returns the kubectl the Makefile built next to the API server.
func Kubectl() (string, error) {
	if k := os.Getenv("MESHD_KUBECTL"); k != "" {
		return k, nil
	}
	dir, err := AssetsDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "kubectl"), nil
}

// DecodeFile reads every object of a multi-document YAML file.
func DecodeFile(path string) ([]*unstructured.Unstructured, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Decode(raw)
}

// Decode reads every object of a multi-document YAML or JSON stream.
func Decode(raw []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

// MustDecode is Decode for manifests written in a test.
func MustDecode(t testing.TB, raw string) *unstructured.Unstructured {
	t.Helper()
	objs, err := Decode([]byte(raw))
	if err != nil || len(objs) != 1 {
		t.Fatalf("decode manifest: %v (%d objects)", err, len(objs))
	}
	return objs[0]
}

// Eventually polls f until it returns nil or the timeout passes, then fails with f's
// last error.
func Eventually(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = f(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
