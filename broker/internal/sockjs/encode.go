package sockjs

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// AppendText appends s escaped as the inside of a JSON string: quote,
// backslash and control characters, and the characters sockjs-protocol
// asks servers to escape because browsers mangle them (U+200C–U+200F,
// U+2028–U+202F, U+2060–U+206F, U+FFF0–U+FFFF). Bytes that are not valid
// UTF-8 become \ufffd.
func AppendText(dst, s []byte) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = appendEscapedASCII(dst, c)
			i++
			start = i
			continue
		}
		r, n := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError || escapes(r) {
			dst = append(dst, s[start:i]...)
			dst = appendUnicodeEscape(dst, r)
			start = i + n
		}
		i += n
	}
	return append(dst, s[start:]...)
}

func appendEscapedASCII(dst []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return appendUnicodeEscape(dst, rune(c))
}

func appendUnicodeEscape(dst []byte, r rune) []byte {
	return append(dst, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

// escapes reports whether r is one of the characters sockjs-protocol asks
// servers to escape.
func escapes(r rune) bool {
	return r >= 0x200c && r <= 0x200f || r >= 0x2028 && r <= 0x202f ||
		r >= 0x2060 && r <= 0x206f || r >= 0xfff0 && r <= 0xffff
}

// RuneCut returns n, or less so as not to split a UTF-8 sequence, or
// len(p) when p is shorter. n must be at least utf8.UTFMax for the cut to
// fall between sequences; within bytes that are not valid UTF-8 it is n.
func RuneCut(p []byte, n int) int {
	if n >= len(p) {
		return len(p)
	}
	for k := n; k > n-utf8.UTFMax && k > 0; k-- {
		if utf8.RuneStart(p[k]) {
			return k
		}
	}
	return n
}
