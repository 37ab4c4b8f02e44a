package bench

import (
	"fmt"
	"testing"
)

func TestZZOne(t *testing.T) {
	for _, r := range oneChange(t) {
		fmt.Println(r.metric, "|", r.value, "|", r.pass)
	}
}
