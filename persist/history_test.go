package persist

import (
	"reflect"
	"testing"
	"time"
)

func TestSavedHistoriesAreTakenOnce(t *testing.T) {
	s, c, path := openTest(t)
	if hs, err := s.TakeHistories(); err != nil || len(hs) != 0 {
		t.Fatalf("TakeHistories of a store that never saved any = %v, %v; want none", hs, err)
	}
	at := time.Unix(0, 1_700_000_000_123_456_789)
	want := []History{
		{Dest: "/topic/a", Epoch: "e1", Last: 7, Entries: []HistoryEntry{{Offset: 6, At: at, Msg: []byte("MESSAGE\n\nsix\x00")}, {Offset: 7, At: at, Msg: []byte("seven")}}},
		{Dest: "/topic/b", Epoch: "e2", Last: 3},
	}
	if err := s.SaveHistories(want[:1]); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveHistories(want); err != nil { // replaces the first save
		t.Fatal(err)
	}
	s.Close()
	s = openAt(t, path, c)
	got, err := s.TakeHistories()
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		for j := range got[i].Entries {
			got[i].Entries[j].At = got[i].Entries[j].At.UTC()
			want[i].Entries[j].At = want[i].Entries[j].At.UTC()
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("TakeHistories after a reopen = %+v, want %+v", got, want)
	}
	if hs, err := s.TakeHistories(); err != nil || len(hs) != 0 {
		t.Fatalf("a second TakeHistories = %v, %v; want none: they are taken once", hs, err)
	}
}

func TestTruncatedSavedHistoryDoesNotDecode(t *testing.T) {
	h := History{Dest: "/topic/a", Epoch: "e", Last: 1, Entries: []HistoryEntry{{Offset: 1, Msg: []byte("body")}}}
	enc := h.encode()
	for n := range len(enc) {
		if _, err := decodeHistory("/topic/a", enc[:n]); err == nil {
			t.Fatalf("a history cut to %d of %d bytes decodes", n, len(enc))
		}
	}
}
