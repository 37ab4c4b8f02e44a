// Package grpcxds: placeholder doc.
package grpcxds
