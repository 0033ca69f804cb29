// Command fixed is the keep-alive example's correct client: it reads each
// response body to the end before closing it, so every request reuses one
// kept-alive connection.
//
//	fixed [URL]   (default $URL, or http://app:8080/fixed)
//
// $DELAY (a Go duration) waits before the first request; $COUNT makes
// that many requests, numbered (URL?n=1, ...), then exits.
package main

import (
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	url := target("http://app:8080/fixed")
	time.Sleep(duration("DELAY", 0))
	count, _ := strconv.Atoi(os.Getenv("COUNT"))
	for i := 1; count <= 0 || i <= count; i++ {
		u := url
		if count > 0 {
			u += "?n=" + strconv.Itoa(i)
		}
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("User-Agent", "fixed")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Printf("fixed: %v", err)
		} else {
			io.Copy(io.Discard, resp.Body) // the fix: drain, then close
			resp.Body.Close()
		}
		time.Sleep(duration("INTERVAL", 500*time.Millisecond))
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

// duration is the environment variable name as a Go duration, or def.
func duration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d > 0 {
		return d
	}
	return def
}
