package sockjs

import "testing"

func TestDecoder(t *testing.T) {
	tests := []struct {
		name, in, out string
		ok            bool
	}{
		{"empty", "", "", true},
		{"whitespace", " \r\n\t", "", true},
		{"empty array", " [ ] ", "", true},
		{"array", `["CONNECT\n", "x\u0000", ""]`, "CONNECT\nx\x00", true},
		{"bare string", ` "a\"b" `, `a"b`, true},
		{"escapes", `["\"\\\/\b\f\n\r\t\u00e9\u00E9"]`, "\"\\/\b\f\n\r\téé", true},
		{"raw UTF-8 and raw invalid bytes pass", "[\"é\xff\"]", "é\xff", true},
		{"surrogate pair", `["\ud83d\ude00"]`, "😀", true},
		{"lone high surrogate", `["\ud83dx"]`, "\ufffdx", true},
		{"high surrogate before an escape", `["\ud83d\n"]`, "\ufffd\n", true},
		{"high surrogate at the end", `["\ud83d"]`, "\ufffd", true},
		{"two high surrogates", `["\ud83d\ud83d\ude00"]`, "\ufffd😀", true},
		{"lone low surrogate", `["\ude00"]`, "\ufffd", true},
		{"truncated", `["a`, "", false},
		{"truncated escape", `["\u00`, "", false},
		{"number", `[1]`, "", false},
		{"object", `{}`, "", false},
		{"missing comma", `["a" "b"]`, "", false},
		{"trailing comma", `["a",]`, "", false},
		{"trailing garbage", `"a" x`, "", false},
		{"two values", `"a""b"`, "", false},
		{"bad escape", `["\a"]`, "", false},
		{"bad hex", `["\u0g00"]`, "", false},
		{"bad escape after a high surrogate", `["\ud800\x"]`, "", false},
		{"control character", "[\"a\nb\"]", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for split := 0; split <= len(tt.in); split++ {
				out, err := decodeAll([]byte(tt.in[:split]), []byte(tt.in[split:]))
				if (err == nil) != tt.ok {
					t.Fatalf("split at %d: err %v, want ok %v", split, err, tt.ok)
				}
				if tt.ok && string(out) != tt.out {
					t.Fatalf("split at %d: %q, want %q", split, out, tt.out)
				}
			}
			pieces := make([][]byte, len(tt.in))
			for i := range pieces {
				pieces[i] = []byte(tt.in[i : i+1])
			}
			if out, err := decodeAll(pieces...); (err == nil) != tt.ok || tt.ok && string(out) != tt.out {
				t.Fatalf("byte by byte: %q, %v", out, err)
			}
		})
	}
}

// decodeAll decodes one message given in pieces.
func decodeAll(pieces ...[]byte) ([]byte, error) {
	var d Decoder
	var out []byte
	for _, p := range pieces {
		var err error
		if out, err = d.Decode(out, p); err != nil {
			return nil, err
		}
	}
	return out, d.Finish()
}
