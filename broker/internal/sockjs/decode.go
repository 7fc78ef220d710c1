package sockjs

import (
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// A Decoder is an incremental decoder of the SockJS messages a client
// sends: a JSON array of strings, or one JSON string, surrounded by any
// JSON whitespace. It is fed a message's bytes in pieces and appends the
// strings' decoded bytes; a \u escape of a lone surrogate decodes to
// U+FFFD, as JavaScript strings may hold one and UTF-8 cannot. Raw bytes
// inside a string are passed on as they are. The zero value is ready for a
// message.
type Decoder struct {
	state jsonState
	bare  bool // the message is one string, not an array
	hex   int  // digits of the \u escape read so far
	r     rune // the \u escape's value so far
	high  rune // a high surrogate waiting for its low half
}

type jsonState uint8

const (
	jsonStart        jsonState = iota // before the message's value
	jsonArray                         // after '[': a string or ']'
	jsonElem                          // after ',': a string
	jsonNext                          // after an element: ',' or ']'
	jsonEnd                           // after the value: whitespace only
	jsonString                        // inside a string
	jsonEscape                        // after '\'
	jsonHex                           // inside \uXXXX
	jsonAfterHigh                     // after a high surrogate: '\' may start its low half
	jsonAfterHighEsc                  // after a high surrogate and '\': 'u' continues it
)

// Decode appends to dst the decoded bytes of p, the next piece of a
// message. After an error the message is malformed and the Decoder is of
// no further use until Finish.
func (d *Decoder) Decode(dst, p []byte) ([]byte, error) {
	for len(p) > 0 {
		var n int
		var err error
		if d.state >= jsonString {
			n, dst, err = d.inString(dst, p)
		} else {
			n, err = d.outside(p[0])
		}
		if err != nil {
			return dst, err
		}
		p = p[n:]
	}
	return dst, nil
}

// outside consumes one byte between the strings of a message.
func (d *Decoder) outside(c byte) (int, error) {
	if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
		return 1, nil
	}
	switch {
	case d.state == jsonStart && c == '[':
		d.state = jsonArray
	case d.state == jsonStart && c == '"':
		d.state, d.bare = jsonString, true
	case (d.state == jsonArray || d.state == jsonElem) && c == '"':
		d.state = jsonString
	case (d.state == jsonArray || d.state == jsonNext) && c == ']':
		d.state = jsonEnd
	case d.state == jsonNext && c == ',':
		d.state = jsonElem
	default:
		return 0, fmt.Errorf("sockjs: malformed message: unexpected %q", c)
	}
	return 1, nil
}

// inString consumes bytes of a string: a run of plain bytes, or one byte of
// an escape. It may consume nothing after a high surrogate, having changed
// state.
func (d *Decoder) inString(dst, p []byte) (int, []byte, error) {
	c := p[0]
	switch d.state {
	case jsonEscape:
		dst, err := d.escape(dst, c)
		return 1, dst, err
	case jsonHex:
		dst, err := d.hexDigit(dst, c)
		return 1, dst, err
	case jsonAfterHigh:
		if c == '\\' {
			d.state = jsonAfterHighEsc
			return 1, dst, nil
		}
		d.state, d.high = jsonString, 0
		return 0, utf8.AppendRune(dst, utf8.RuneError), nil
	case jsonAfterHighEsc:
		if c == 'u' {
			d.state, d.hex, d.r = jsonHex, 0, 0
			return 1, dst, nil
		}
		d.state, d.high = jsonEscape, 0
		return 0, utf8.AppendRune(dst, utf8.RuneError), nil
	}
	switch {
	case c == '"':
		d.state = jsonNext
		if d.bare {
			d.state = jsonEnd
		}
		return 1, dst, nil
	case c == '\\':
		d.state = jsonEscape
		return 1, dst, nil
	case c < 0x20:
		return 0, dst, fmt.Errorf("sockjs: malformed message: control character %#x in a string", c)
	}
	n := 1
	for n < len(p) && p[n] != '"' && p[n] != '\\' && p[n] >= 0x20 {
		n++
	}
	return n, append(dst, p[:n]...), nil
}

// escape decodes the character after a backslash.
func (d *Decoder) escape(dst []byte, c byte) ([]byte, error) {
	d.state = jsonString
	switch c {
	case '"', '\\', '/':
		return append(dst, c), nil
	case 'b':
		return append(dst, '\b'), nil
	case 'f':
		return append(dst, '\f'), nil
	case 'n':
		return append(dst, '\n'), nil
	case 'r':
		return append(dst, '\r'), nil
	case 't':
		return append(dst, '\t'), nil
	case 'u':
		d.state, d.hex, d.r = jsonHex, 0, 0
		return dst, nil
	}
	return dst, fmt.Errorf("sockjs: malformed message: invalid escape \\%c", c)
}

// hexDigit takes one digit of a \u escape, and decodes the escape after
// its fourth.
func (d *Decoder) hexDigit(dst []byte, c byte) ([]byte, error) {
	v, ok := unhex(c)
	if !ok {
		return dst, fmt.Errorf("sockjs: malformed message: invalid \\u escape digit %q", c)
	}
	d.r = d.r<<4 | v
	if d.hex++; d.hex < 4 {
		return dst, nil
	}
	d.state = jsonString
	r := d.r
	if d.high != 0 {
		high := d.high
		d.high = 0
		if utf16.IsSurrogate(r) && r >= 0xdc00 {
			return utf8.AppendRune(dst, utf16.DecodeRune(high, r)), nil
		}
		dst = utf8.AppendRune(dst, utf8.RuneError)
	}
	if r >= 0xd800 && r < 0xdc00 {
		d.high, d.state = r, jsonAfterHigh
		return dst, nil
	}
	return utf8.AppendRune(dst, r), nil
}

func unhex(c byte) (rune, bool) {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0'), true
	case 'a' <= c && c <= 'f':
		return rune(c - 'a' + 10), true
	case 'A' <= c && c <= 'F':
		return rune(c - 'A' + 10), true
	}
	return 0, false
}

// Finish checks that a message ended after a complete value, or held only
// whitespace, and readies the Decoder for the next one.
func (d *Decoder) Finish() error {
	state := d.state
	*d = Decoder{}
	if state != jsonStart && state != jsonEnd {
		return fmt.Errorf("sockjs: malformed message: truncated JSON")
	}
	return nil
}
