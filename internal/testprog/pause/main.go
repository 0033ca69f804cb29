// Command pause blocks until SIGTERM or SIGINT, then exits 0: the process
// of the pod sandbox ("pause") image the CRI test builds, since no
// registry can be reached to pull one.
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
