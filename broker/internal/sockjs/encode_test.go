package sockjs

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

func TestAppendText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain ascii", "plain ascii"},
		{"CONNECT\nhost:h\n\n\x00", `CONNECT\nhost:h\n\n\u0000`},
		{"\"\\/\r\t\x1f\x7f", `\"\\/\r\t\u001f` + "\x7f"},
		{"é☃😀", "é☃😀"},
		{"\u200b\u200c\u200f\u2010\u2028\u202f\u2060\u206f\u2070", "\u200b\\u200c\\u200f\u2010\\u2028\\u202f\\u2060\\u206f\u2070"},
		{"\ufeff\uffef\ufff0\ufffd", "\ufeff\uffef\\ufff0\\ufffd"},
		{"a\xffb\xc3", `a\ufffdb\ufffd`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := string(AppendText(nil, []byte(tt.in)))
			if got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
			var back string
			if err := json.Unmarshal([]byte(`"`+got+`"`), &back); err != nil {
				t.Fatalf("encoding/json cannot read %s: %v", got, err)
			}
			if utf8.ValidString(tt.in) && back != tt.in {
				t.Fatalf("encoding/json reads %s back as %q", got, back)
			}
		})
	}
}

func TestAppendTextAllocs(t *testing.T) {
	in := bytes.Repeat([]byte("SEND\ndestination:/queue/a\n\nhéllo \u2028\x00"), 100)
	dst := make([]byte, 0, 6*len(in))
	if n := testing.AllocsPerRun(100, func() { dst = AppendText(dst[:0], in) }); n != 0 {
		t.Fatalf("%v allocations per escape, want 0", n)
	}
}

func TestRuneCut(t *testing.T) {
	p := []byte("ab😀c")
	for n, want := range []int{0, 1, 2, 2, 2, 2, 6, 7, 7} {
		if got := RuneCut(p, n); got != want {
			t.Errorf("RuneCut(%q, %d) = %d, want %d", p, n, got, want)
		}
	}
	if got := RuneCut([]byte("a\x80\x80\x80\x80\x80"), 5); got != 5 {
		t.Errorf("RuneCut in invalid bytes = %d, want 5", got)
	}
}
