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

// TestSwapKeyLetsOneOfRacingCallersWin swaps from the same blob at once:
// exactly one caller stores its own, and a missing key swaps from empty.
func TestSwapKeyLetsOneOfRacingCallersWin(t *testing.T) {
	s, _, _ := openTest(t)
	if ok, err := s.SwapKey("ring", nil, []byte("v1")); !ok || err != nil {
		t.Fatalf("swap of a missing key from empty: %v %v", ok, err)
	}
	won := make([]bool, 8)
	var wg sync.WaitGroup
	for i := range won {
		wg.Go(func() {
			ok, err := s.SwapKey("ring", []byte("v1"), []byte(fmt.Sprintf("v2 by %d", i)))
			if err != nil {
				t.Error(err)
			}
			won[i] = ok
		})
	}
	wg.Wait()
	winners := 0
	for i, ok := range won {
		if ok {
			winners++
			if b, _ := s.Key("ring"); string(b) != fmt.Sprintf("v2 by %d", i) {
				t.Errorf("store holds %q, want the winner %d's", b, i)
			}
		}
	}
	if winners != 1 {
		t.Errorf("%d callers swapped from the same blob, want 1", winners)
	}
}
