//go:build !linux

package live

import (
	"context"
	"errors"
	"time"
)

// errUnsupported is what Open returns where AF_PACKET does not exist.
var errUnsupported = errors.New("live capture needs Linux (AF_PACKET)")

// Source is an open capture. Only Linux has one.
type Source struct{}

// Open fails: live capture needs Linux.
func Open(cfg Config) (*Source, error) {
	return nil, &Error{Op: "open capture", Err: errUnsupported}
}

// Name returns what the Source captures on.
func (s *Source) Name() string { return "" }

// Stopped returns when Run saw its context done: never here.
func (s *Source) Stopped() time.Time { return time.Time{} }

// SnapLen returns the bytes kept of each packet.
func (s *Source) SnapLen() int { return 0 }

// Run fails: live capture needs Linux.
func (s *Source) Run(ctx context.Context, h Handler) error { return errUnsupported }

// Stats returns zero counters.
func (s *Source) Stats() (Stats, error) { return Stats{}, nil }

// Close does nothing.
func (s *Source) Close() error { return nil }

// String describes the Source.
func (s *Source) String() string { return "" }
