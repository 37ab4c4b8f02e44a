// Package dataplane deploys meshd's proxies: GatewayDeployer runs a proxy for every
// Gateway of class istio or istio-waypoint, ZtunnelDeployer runs ztunnel on every node
// when the Mesh turns ambient mode on. Both render with the PURE packages
// dataplane/gateway and dataplane/ztunnel and write with dataplane/apply.
package dataplane

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1alpha1 "github.com/meshd-io/meshd/api/meshd/v1alpha1"
)

// FieldOwner is the server-side-apply field manager of everything the deployers write.
const FieldOwner = "meshd-dataplane"

// meshSpec reads the Mesh named default, with defaults; the defaults alone when there
// is none.
func meshSpec(ctx context.Context, c client.Reader) (meshv1alpha1.MeshSpec, error) {
	mesh := &meshv1alpha1.Mesh{}
	if err := c.Get(ctx, client.ObjectKey{Name: meshv1alpha1.MeshName}, mesh); err != nil {
		if client.IgnoreNotFound(err) != nil {
			return meshv1alpha1.MeshSpec{}, err
		}
		return meshv1alpha1.DefaultMeshSpec(), nil
	}
	return mesh.Spec.WithDefaults(), nil
}
