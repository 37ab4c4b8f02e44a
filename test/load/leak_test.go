package load

import (
	"testing"

	"github.com/meshd-io/meshd/internal/testutil"
)

// TestMain fails the package if a goroutine meshd started outlives its manager.
func TestMain(m *testing.M) { testutil.Main(m) }
