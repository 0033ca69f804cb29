// Command leaky is the keep-alive example's faulty client: it closes each
// response body without reading it, so Go's HTTP client cannot put the
// connection back in its pool and opens a new one for every request.
//
//	leaky [URL]   (default $URL, or http://app:8080/leaky)
//
// $DELAY (a Go duration) waits before the first request; $COUNT makes
// that many requests, numbered (URL?n=1, ...), then exits.
package main

import (
	"log"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	url := target("http://app:8080/leaky")
	time.Sleep(duration("DELAY", 0))
	count, _ := strconv.Atoi(os.Getenv("COUNT"))
	for i := 1; count <= 0 || i <= count; i++ {
		u := url
		if count > 0 {
			u += "?n=" + strconv.Itoa(i)
		}
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("User-Agent", "leaky")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Printf("leaky: %v", err)
		} else {
			resp.Body.Close() // the bug: the body was not read
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
