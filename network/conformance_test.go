package network_test

import (
	"bytes"
	"testing"

	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/network/networktest"
)

func TestBuiltinConformance(t *testing.T) {
	networktest.Run(t, func(t *testing.T) network.Service {
		b, err := network.NewBuiltin(network.BuiltinConfig{Key: bytes.Repeat([]byte{0x42}, 32)}, network.NewMemoryStore())
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}
