package stomp

// Limits bound what a Decoder accepts. The zero value of a field means its
// default; a negative value means no limit.
type Limits struct {
	// MaxFrameSize bounds a whole frame: command, headers and body.
	// Default 0 means no bound beyond the others (the server uses it to
	// hold frames before CONNECT to 16 KiB).
	MaxFrameSize int
	// MaxBodySize bounds a frame's body. Default 1 MiB.
	MaxBodySize int
	// MaxHeaders bounds the number of header lines. Default 64.
	MaxHeaders int
	// MaxHeaderLine bounds one header line in bytes, excluding its EOL.
	// It also bounds the command line. Default 8 KiB.
	MaxHeaderLine int
}

// Default limits.
const (
	DefaultMaxBodySize   = 1 << 20
	DefaultMaxHeaders    = 64
	DefaultMaxHeaderLine = 8 << 10
)

func (l Limits) withDefaults() Limits {
	l.MaxFrameSize = orDefault(l.MaxFrameSize, -1)
	l.MaxBodySize = orDefault(l.MaxBodySize, DefaultMaxBodySize)
	l.MaxHeaders = orDefault(l.MaxHeaders, DefaultMaxHeaders)
	l.MaxHeaderLine = orDefault(l.MaxHeaderLine, DefaultMaxHeaderLine)
	return l
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}
