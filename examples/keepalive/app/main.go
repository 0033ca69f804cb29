// Command app is the keep-alive example's HTTP service: it answers every
// request with a small JSON body, on :8080 (or $ADDR).
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"
)

func main() {
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = ":8080"
	}
	// A body bigger than what a client reads with the headers, so that a
	// client that does not read it cannot reuse the connection.
	pad := strings.Repeat("x", 8<<10)
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"path\":%q,\"pad\":%q}\n", r.URL.Path, pad)
	})
	log.Printf("app: listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, nil))
}
