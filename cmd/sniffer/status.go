package main

// The exit statuses. Each outcome has its own, so that a CI script can
// tell "connections were not reused" from "nothing could be judged" and
// from "the capture could not be read".
const (
	// exitOK: done; with --expect-reuse, at least one HTTP or TLS connection was
	// judged and none was not reused.
	exitOK = 0
	// exitNotReused: --expect-reuse found connections not reused.
	exitNotReused = 1
	// exitUsage: a mistake in the command line, the format or the filter.
	exitUsage = 2
	// exitInconclusive: --expect-reuse could not judge: no HTTP exchange
	// or TLS round trip seen (no traffic, a filter or namespace that passes
	// none of it, only another protocol), more client -> server pairs than
	// --max-summary-pairs, or connections evicted from the table.
	exitInconclusive = 3
	// exitFailed: the input could not be read (file not found, not a
	// capture, config file unreadable), the capture failed (socket,
	// permissions, the Docker engine), the output could not be written, or
	// the -e command could not run.
	exitFailed = 4
)
