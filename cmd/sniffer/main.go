// Command sniffer prints the HTTP conversations of a network namespace, or of
// a capture file, one justniffer-style log entry per request and response,
// annotated with its TCP connection.
//
//	sniffer -f capture.pcap
//	sniffer -f capture.pcapng -l '%connection %connection.time %request.line %response.code'
//	tcpdump -w - port 8080 | sniffer -f -
//
// See README.md, and sniffer --help.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
