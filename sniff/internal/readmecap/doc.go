// Package readmecap makes the captures README.md's examples read
// (testdata/readme at the repository's root): the seed story of a Go client
// that does not reuse its connections, and the same client fixed. It holds
// only a test, TestCaptures, which checks that the committed files are what
// the generator writes, and rewrites them with -update:
//
//	go test ./sniff/internal/readmecap -update
//
// The captures are built with sniff/internal/pcaptest, so they are
// reproducible byte for byte; cmd/sniffer's TestReadme runs the README's
// examples on them and compares their output with the README's.
package readmecap
