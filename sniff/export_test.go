package sniff

import "github.com/sniffer/sniffer/sniff/internal/exchange"

// SetDecoders replaces the registry of decoders for a test; the returned
// function restores it.
func SetDecoders(f []exchange.Factory) (restore func()) {
	old := decoders
	decoders = f
	return func() { decoders = old }
}
