package reassembly

// Seq is a TCP sequence number. Sequence numbers wrap around at 2^32, so
// they are compared by serial-number arithmetic (RFC 1982): a is after b
// when a-b, taken modulo 2^32, is below 2^31.
//
// Distances are int64, so that negating one can never overflow: with int32
// distances, a segment 2^31 ahead of the next expected byte gives -2^31,
// whose negation is itself, and a slice bound computed from it is negative.
// Two numbers exactly 2^31 apart have no order (RFC 1982 leaves it
// undefined); Sub calls the first one behind. Callers that use a distance
// to index bytes first check it against the receive window (at most 2^30),
// so such a distance never reaches a slice expression.
type Seq uint32

// Add returns s advanced by n bytes (n may be negative).
func (s Seq) Add(n int64) Seq { return s + Seq(uint32(n)) }

// Sub returns the distance from t to s: positive when s is after t, in
// [-2^31, 2^31).
func (s Seq) Sub(t Seq) int64 { return int64(int32(uint32(s) - uint32(t))) }

// After reports whether s comes after t.
func (s Seq) After(t Seq) bool { return s.Sub(t) > 0 }

// Before reports whether s comes before t.
func (s Seq) Before(t Seq) bool { return s.Sub(t) < 0 }

// MaxWindow is the largest receive window TCP can advertise: a 16-bit
// window shifted by the largest window scale, 14 (RFC 7323 §2.3), rounded
// up to 2^30. It is the window assumed when the handshake's window scale
// options were not captured.
const MaxWindow = 1 << 30

// Window returns the largest receive window a peer can advertise with the
// given window scale shift (RFC 7323): 65535 << shift, the shift capped at
// 14 as RFC 7323 requires of receivers. A negative shift means no scaling.
func Window(shift int) int64 {
	if shift < 0 {
		shift = 0
	}
	return 65535 << min(shift, 14)
}
