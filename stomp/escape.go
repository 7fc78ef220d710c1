package stomp

import (
	"bytes"
	"errors"
	"fmt"
)

// escapes reports whether the header lines of command c are escaped under
// version v. STOMP 1.0 has no escaping, and the CONNECT and CONNECTED
// frames (and STOMP, CONNECT's other name) never use it, so that a 1.0
// peer can read them before a version is negotiated.
func escapes(c Command, v Version) bool {
	return v != V10 && c != CONNECT && c != STOMP && c != CONNECTED
}

// errLoneBackslash describes a header that ends in the middle of an escape.
var errLoneBackslash = errors.New("lone backslash at the end")

// unescape decodes the escape sequences of version v (V11 or V12) in b in
// place and returns the decoded length, which is never more than len(b).
// An escape the version does not define is an error.
func unescape(b []byte, v Version) (int, error) {
	w := bytes.IndexByte(b, '\\')
	if w < 0 {
		return len(b), nil
	}
	for r := w; r < len(b); r++ {
		c := b[r]
		if c == '\\' {
			if r++; r == len(b) {
				return 0, errLoneBackslash
			}
			if c = unescapeByte(b[r], v); c == 0 {
				return 0, fmt.Errorf("undefined escape sequence %q", b[r-1:r+1])
			}
		}
		b[w] = c
		w++
	}
	return w, nil
}

// unescapeByte returns what the escape sequence "\" + c stands for, or 0 if
// version v does not define it.
func unescapeByte(c byte, v Version) byte {
	switch c {
	case 'n':
		return '\n'
	case 'c':
		return ':'
	case '\\':
		return '\\'
	case 'r':
		if v != V11 {
			return '\r'
		}
	}
	return 0
}

// Header encodings: what each byte becomes, "" meaning itself.
var (
	// escapeV12 is STOMP 1.2 escaping.
	escapeV12 = [256]string{'\n': `\n`, ':': `\c`, '\\': `\\`, '\r': `\r`}
	// escapeV11 is STOMP 1.1 escaping, which has no escape for CR: it is
	// written as a space, since a raw CR before the LF reads as part of a
	// CRLF, and "\r" is an error to a 1.1 reader.
	escapeV11 = [256]string{'\n': `\n`, ':': `\c`, '\\': `\\`, '\r': " "}
	// rawKey and rawValue are for headers without escaping (STOMP 1.0,
	// CONNECT and CONNECTED). CR and LF cannot be carried, nor a colon in
	// a key: they are written as spaces, so that one header can never turn
	// into two.
	rawKey   = [256]string{'\n': " ", '\r': " ", ':': " "}
	rawValue = [256]string{'\n': " ", '\r': " "}
)

// encoding returns the header encoding of command c under version v.
func encoding(key bool, c Command, v Version) *[256]string {
	switch {
	case !escapes(c, v) && key:
		return &rawKey
	case !escapes(c, v):
		return &rawValue
	case v == V11:
		return &escapeV11
	}
	return &escapeV12
}

// appendEscaped appends s to dst as a header key or value of command c
// under version v.
func appendEscaped[T string | []byte](dst []byte, s T, key bool, c Command, v Version) []byte {
	enc := encoding(key, c, v)
	from := 0
	for i := 0; i < len(s); i++ {
		if seq := enc[s[i]]; seq != "" {
			dst = append(dst, s[from:i]...)
			dst = append(dst, seq...)
			from = i + 1
		}
	}
	return append(dst, s[from:]...)
}
