package redisstore

import (
	"bytes"
	"sync"
	"testing"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/persist/redistest"
)

// TestNodesStartingTogetherServeOneJWKS starts eight nodes' keys at once on
// an empty Redis, each with its own client and fresh key: they all end up
// with the key stored first, so every node serves the same JWKS.
func TestNodesStartingTogetherServeOneJWKS(t *testing.T) {
	r := redistest.Start(t)
	jwks := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range jwks {
		s := New(redistest.Client(t, r.URL()), Options{})
		wg.Go(func() {
			k, err := auth.LoadEd25519Keys(s)
			if err != nil {
				t.Error(err)
				return
			}
			jwks[i] = k.JWKS()
		})
	}
	wg.Wait()
	for i, j := range jwks {
		if !bytes.Equal(j, jwks[0]) {
			t.Errorf("node %d serves JWKS %s, node 0 %s", i, j, jwks[0])
		}
	}
}
