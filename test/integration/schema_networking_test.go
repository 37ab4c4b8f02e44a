package integration

// networkingSchemaCases are the VirtualService and DestinationRule objects the CRD
// schema must refuse.
var networkingSchemaCases = []struct {
	name     string
	manifest string
	want     []string
}{}
