// Package tlstest runs real TLS sessions (Go's crypto/tls, over net.Pipe)
// and records the bytes each side sent, in the order the client saw them,
// so that tests can replay them into captures (pcaptest) or feed them to a
// record tracker.
package tlstest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sniffer/sniffer/sniff/internal/pcaptest"
)

// Event is one write of a side, as the client saw it.
type Event struct {
	FromClient bool
	Data       []byte
}

// Session describes a session to run.
type Session struct {
	// Version is the TLS version both sides are limited to
	// (tls.VersionTLS12, tls.VersionTLS13).
	Version uint16
	// ServerName is the client's SNI.
	ServerName string
	// ClientALPN and ServerALPN are the protocols each side offers.
	ClientALPN, ServerALPN []string
	// Rounds is the number of request/response round trips.
	Rounds int
	// ServerCloses makes the server close after the last response; else
	// the client closes.
	ServerCloses bool
}

var (
	certOnce sync.Once
	cert     tls.Certificate
	certErr  error
)

// serverCert returns a self-signed certificate, made once.
func serverCert(t testing.TB) tls.Certificate {
	certOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			certErr = err
			return
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1),
			Subject:      pkix.Name{CommonName: "tlstest"},
			DNSNames:     []string{"api.example.com"},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			certErr = err
			return
		}
		cert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	})
	if certErr != nil {
		t.Fatalf("certificate: %v", certErr)
	}
	return cert
}

// recorder wraps the client's end of the pipe: what it writes is the
// client's, what it reads the server's.
type recorder struct {
	net.Conn
	mu  sync.Mutex
	evs []Event
	// eof: a Read returned the end of the stream; closedFirst: Close was
	// called before that.
	eof, closedFirst bool
}

func (r *recorder) Close() error {
	r.mu.Lock()
	if !r.eof {
		r.closedFirst = true
	}
	r.mu.Unlock()
	return r.Conn.Close()
}

func (r *recorder) add(fromClient bool, b []byte) {
	if len(b) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.evs); n > 0 && r.evs[n-1].FromClient == fromClient && !fromClient {
		// Reads of one server write may come in pieces: keep them whole
		// enough (the order is what matters).
		r.evs[n-1].Data = append(r.evs[n-1].Data, b...)
		return
	}
	r.evs = append(r.evs, Event{FromClient: fromClient, Data: bytes.Clone(b)})
}

// Write records b before it writes it: the answer to it may be read (and
// recorded) before the write returns.
func (r *recorder) Write(b []byte) (int, error) {
	r.add(true, b)
	return r.Conn.Write(b)
}

func (r *recorder) Read(b []byte) (int, error) {
	n, err := r.Conn.Read(b)
	r.add(false, b[:n])
	if err == io.EOF {
		r.mu.Lock()
		r.eof = true
		r.mu.Unlock()
	}
	return n, err
}

// Request is what the client sends in round trip i; Response what the
// server answers.
func Request(i int) []byte {
	return []byte("GET /item/" + string(rune('a'+i%26)) + " HTTP/1.1\r\nHost: api.example.com\r\n\r\n")
}

// Response is the server's answer to Request(i).
func Response(i int) []byte {
	body := bytes.Repeat([]byte{'x'}, 100+i)
	return append([]byte("HTTP/1.1 200 OK\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"), body...)
}

// Run runs the session and returns the client's view of it.
func Run(t testing.TB, s Session) []Event {
	t.Helper()
	a, b := net.Pipe()
	rec := &recorder{Conn: a}
	srvCfg := &tls.Config{Certificates: []tls.Certificate{serverCert(t)}, MinVersion: s.Version, MaxVersion: s.Version, NextProtos: s.ServerALPN}
	cliCfg := &tls.Config{ServerName: s.ServerName, InsecureSkipVerify: true, MinVersion: s.Version, MaxVersion: s.Version, NextProtos: s.ClientALPN}
	done := make(chan error, 1)
	go func() {
		srv := tls.Server(b, srvCfg)
		defer b.Close()
		for i := 0; i < s.Rounds; i++ {
			want := len(Request(i))
			buf := make([]byte, want)
			if _, err := io.ReadFull(srv, buf); err != nil {
				done <- err
				return
			}
			if _, err := srv.Write(Response(i)); err != nil {
				done <- err
				return
			}
		}
		if s.Rounds == 0 {
			if err := srv.Handshake(); err != nil {
				done <- err
				return
			}
		}
		if s.ServerCloses {
			srv.Close()
			done <- nil
			return
		}
		// Wait for the client's close_notify.
		io.Copy(io.Discard, srv)
		done <- nil
	}()
	cli := tls.Client(rec, cliCfg)
	if err := cli.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	for i := 0; i < s.Rounds; i++ {
		if _, err := cli.Write(Request(i)); err != nil {
			t.Fatalf("write: %v", err)
		}
		buf := make([]byte, len(Response(i)))
		if _, err := io.ReadFull(cli, buf); err != nil {
			t.Fatalf("read: %v", err)
		}
	}
	if s.ServerCloses {
		io.Copy(io.Discard, cli) // the server's close_notify, then EOF
	}
	cli.Close()
	a.Close()
	if err := <-done; err != nil {
		t.Fatalf("server: %v", err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.evs
}

// Play writes the events into f as data segments, each acknowledged, then
// the close by the side that closed.
func Play(f *pcaptest.Flow, evs []Event, serverCloses bool) {
	for _, e := range evs {
		f.Send(e.FromClient, e.Data)
		f.Ack(!e.FromClient)
	}
	f.Close(!serverCloses)
}

// Dialer dials TCP connections and records each one's bytes, as its
// client saw them: give DialContext to an http.Transport.
type Dialer struct {
	mu    sync.Mutex
	conns []*recorder
}

// DialContext dials addr and records the connection.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	r := &recorder{Conn: c}
	d.mu.Lock()
	d.conns = append(d.conns, r)
	d.mu.Unlock()
	return r, nil
}

// Conn is one recorded connection.
type Conn struct {
	Events []Event
	// ServerClosed reports that the client read the end of the stream
	// before it closed the connection itself.
	ServerClosed bool
	// Ended reports that the client closed the connection or read its
	// end.
	Ended bool
}

// Conns returns the connections dialed so far, in order.
func (d *Dialer) Conns() []Conn {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]Conn, len(d.conns))
	for i, r := range d.conns {
		r.mu.Lock()
		out[i] = Conn{Events: slices.Clone(r.evs), ServerClosed: r.eof && !r.closedFirst, Ended: r.eof || r.closedFirst}
		r.mu.Unlock()
	}
	return out
}
