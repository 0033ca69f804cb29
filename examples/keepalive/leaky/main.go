// Command leaky is the keep-alive example's faulty client: it closes each
// response body without reading it, so Go's HTTP client cannot put the
// connection back in its pool and opens a new one for every request.
//
//	leaky [URL]   (default $URL, or http://app:8080/leaky)
package main

import (
	"log"
	"net/http"
	"os"
	"time"
)

func main() {
	url := target("http://app:8080/leaky")
	for {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("User-Agent", "leaky")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Printf("leaky: %v", err)
		} else {
			resp.Body.Close() // the bug: the body was not read
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
