package persist

import (
	"fmt"
	"sync"
	"testing"
)

// TestLoadOrStoreKeyKeepsTheFirst checks that callers racing to create a
// key all get the one stored first, as nodes starting together must, and
// that the store keeps its own copy.
func TestLoadOrStoreKeyKeepsTheFirst(t *testing.T) {
	s, _, _ := openTest(t)
	got := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() {
			b, err := s.LoadOrStoreKey("signing", []byte(fmt.Sprintf("fresh %d", i)))
			if err != nil {
				t.Error(err)
			}
			got[i] = b
		})
	}
	wg.Wait()
	stored, err := s.Key("signing")
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range got {
		if string(b) != string(stored) {
			t.Errorf("caller %d got %q, the store holds %q", i, b, stored)
		}
	}
	got[0][0] = 'X'
	if again, _ := s.LoadOrStoreKey("signing", []byte("later")); string(again) != string(stored) {
		t.Fatalf("LoadOrStoreKey after the first = %q, want %q", again, stored)
	}
}
