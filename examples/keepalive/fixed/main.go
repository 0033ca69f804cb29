// Command fixed is the keep-alive example's correct client: it reads each
// response body to the end before closing it, so every request reuses one
// kept-alive connection.
//
//	fixed [URL]   (default $URL, or http://app:8080/fixed)
package main

import (
	"io"
	"log"
	"net/http"
	"os"
	"time"
)

func main() {
	url := target("http://app:8080/fixed")
	for {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("User-Agent", "fixed")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Printf("fixed: %v", err)
		} else {
			io.Copy(io.Discard, resp.Body) // the fix: drain, then close
			resp.Body.Close()
		}
		time.Sleep(interval())
	}
}

// target is the URL from the first argument, $URL, or def.
func target(def string) string {
	if len(os.Args) > 1 {
		return os.Args[1]
	}
	if u := os.Getenv("URL"); u != "" {
		return u
	}
	return def
}

// interval is $INTERVAL (a Go duration), 500ms by default.
func interval() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("INTERVAL")); err == nil && d > 0 {
		return d
	}
	return 500 * time.Millisecond
}
