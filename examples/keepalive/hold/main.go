// Command hold is the keep-alive example's network namespace holder: it
// does nothing until SIGTERM or SIGINT. A client and its verdict sidecar
// both join its namespace (network_mode: "service:leaky-net"), so that the
// client can wait for the sidecar to be ready (depends_on:
// service_healthy) without a cycle, and keeps its network when the
// verdict sidecar exits.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
