package stomp

import "strconv"

// AppendFrame appends f's wire form to dst and returns the extended slice.
// Header keys and values are escaped as version v requires (not at all for
// V10, nor for CONNECT, STOMP and CONNECTED frames); the body is written as
// it is and terminated with NUL. AppendFrame adds no content-length header
// of its own: a caller whose body may hold a NUL adds one.
func AppendFrame(dst []byte, f *Frame, v Version) []byte {
	dst = AppendCommand(dst, f.Command)
	for _, h := range f.Headers {
		dst = AppendHeader(dst, f.Command, h.Key, h.Value, v)
	}
	return AppendBody(dst, f.Body)
}

// AppendCommand appends the command line, such as "MESSAGE\n".
func AppendCommand(dst []byte, c Command) []byte {
	dst = append(dst, c.String()...)
	return append(dst, '\n')
}

// AppendHeader appends the header line "key:value\n", escaped as the
// headers of command c under version v require. Where a frame is not
// escaped, bytes it cannot carry (CR and LF, and a colon in the key) are
// written as spaces, so that a header can never turn into two. The key must
// not be empty: no reader accepts a header line without a name.
func AppendHeader(dst []byte, c Command, key, value []byte, v Version) []byte {
	return appendHeader(dst, c, key, value, v)
}

// AppendHeaderString is AppendHeader for string keys and values.
func AppendHeaderString(dst []byte, c Command, key, value string, v Version) []byte {
	return appendHeader(dst, c, key, value, v)
}

func appendHeader[T string | []byte](dst []byte, c Command, key, value T, v Version) []byte {
	dst = appendEscaped(dst, key, true, c, v)
	dst = append(dst, ':')
	dst = appendEscaped(dst, value, false, c, v)
	return append(dst, '\n')
}

// AppendContentLength appends the header line "content-length:n\n"
// without allocating, for a body of n bytes.
func AppendContentLength(dst []byte, n int) []byte {
	dst = append(dst, "content-length:"...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '\n')
}

// AppendBody appends the blank line that ends the headers, the body and
// the NUL that ends the frame.
func AppendBody(dst []byte, body []byte) []byte {
	dst = append(dst, '\n')
	dst = append(dst, body...)
	return append(dst, 0)
}

// AppendHeaderLines appends header lines that AppendHeader wrote for
// command c under STOMP 1.2, encoded as AppendHeader writes them for c
// under version v: a message kept in its 1.2 form can go to a peer of any
// version without its headers being kept twice.
func AppendHeaderLines(dst []byte, c Command, lines []byte, v Version) []byte {
	if v == V12 || !escapes(c, V12) {
		return append(dst, lines...)
	}
	key := true
	for i := 0; i < len(lines); i++ {
		b := lines[i]
		switch {
		case b == '\n' || (b == ':' && key):
			key = b == '\n'
			dst = append(dst, b)
			continue
		case b == '\\' && i+1 < len(lines):
			i++
			b = unescapeByte(lines[i], V12)
		}
		if seq := encoding(key, c, v)[b]; seq != "" {
			dst = append(dst, seq...)
		} else {
			dst = append(dst, b)
		}
	}
	return dst
}
