package exchange

import (
	"bytes"
	"time"

	"github.com/sniffer/sniffer/sniff/entry"
)

// Advance emits the exchanges whose label is now known: complete ones
// followed by another that began. ts is the time of the event that made
// them so (used only for concurrent exchanges whose successor already
// left).
func (c *Conn) Advance(ts time.Time) {
	if len(c.queue) > 1 || c.Concurrent {
		c.advance(ts)
	}
}

func (c *Conn) advance(ts time.Time) {
	if c.Concurrent {
		c.advanceConcurrent(ts)
		return
	}
	for len(c.queue) > 1 {
		x := c.queue[0]
		if !x.Raw && !(x.ReqDone && x.RespDone) {
			return
		}
		next := c.queue[1]
		flushed := next.X.Request.First
		if flushed.IsZero() {
			flushed = next.X.Response.First
		}
		if last := x.X.LastEvent(); flushed.Before(last) {
			flushed = last // pipelined: the next request came first
		}
		c.emitAt(0, flushed, time.Time{}, entry.None, false)
	}
}

// flushedBy is when x's label became known: when next, which began after
// it, began, or x's last packet if later (pipelined: the next request came
// first).
func flushedBy(x, next *Exchange) time.Time {
	flushed := next.X.Request.First
	if flushed.IsZero() {
		flushed = next.X.Response.First
	}
	if last := x.X.LastEvent(); flushed.Before(last) {
		flushed = last
	}
	return flushed
}

func (c *Conn) advanceConcurrent(ts time.Time) {
	for i := 0; i < len(c.queue); {
		x := c.queue[i]
		if !x.Complete() || x.X.Index == c.index {
			i++
			continue
		}
		var flushed time.Time
		if i+1 < len(c.queue) {
			flushed = flushedBy(x, c.queue[i+1])
		} else {
			flushed = ts
			if last := x.X.LastEvent(); flushed.Before(last) {
				flushed = last
			}
		}
		c.emitAt(i, flushed, time.Time{}, entry.None, false)
	}
}

// FlushIdle prints the complete exchanges of an idle connection without
// waiting for their label (FlushAfter): labelled open. In order, only the
// oldest if complete; concurrent, every complete one.
func (c *Conn) FlushIdle(now time.Time) {
	c.provisional = true
	for i := 0; i < len(c.queue); {
		if !c.queue[i].Complete() {
			if !c.Concurrent {
				break
			}
			i++
			continue
		}
		c.emitAt(i, now, time.Time{}, entry.None, false)
		if !c.Concurrent {
			break
		}
	}
	c.provisional = false
}

// EmitAll emits every exchange left, in the order they began; the last one
// ends the connection. closeTS is the close time (zero unless closed).
func (c *Conn) EmitAll(flushed, closeTS time.Time, origin entry.Originator, closed bool) {
	if len(c.queue) == 0 && c.shown == 0 {
		// A connection that carried no payload still makes one entry.
		x := c.Begin()
		c.index = 0
		x.X.Index = 0
	}
	for len(c.queue) > 0 {
		if len(c.queue) == 1 {
			c.emitAt(0, flushed, closeTS, origin, closed)
			return
		}
		c.emitAt(0, flushed, time.Time{}, entry.None, false)
	}
}

// emitAt emits the i-th waiting exchange. final marks the connection's end
// by a close; origin is set on the connection's last entry (close, timeout
// or truncation).
func (c *Conn) emitAt(i int, flushed, closeTS time.Time, origin entry.Originator, final bool) {
	x := c.queue[i]
	// The queue is short (MaxQueue): a loop of pointer moves costs less
	// than copy's call to typedslicecopy.
	n := len(c.queue) - 1
	for j := i; j < n; j++ {
		c.queue[j] = c.queue[j+1]
	}
	c.queue[n] = nil
	c.queue = c.queue[:n]
	c.S.Queued--
	en := &x.X
	t := c.T
	en.Client, en.Server = t.Client, t.Server
	if c.Reversed {
		en.Client, en.Server = t.Server, t.Client
	}
	en.Conn = t.ID
	first := en.Index <= 1 && !t.Pickup
	switch {
	case c.provisional:
		en.Annotation = entry.Open
	case first && final:
		en.Annotation = entry.Unique
	case first:
		en.Annotation = entry.Start
	case final:
		en.Annotation = entry.Last
	default:
		en.Annotation = entry.Continue
	}
	if first && t.SynSeen {
		en.SYN = t.SynTime
		en.HandshakeDone = t.HsDone
	}
	if t.SynSeen {
		en.ConnStart = t.SynTime
	}
	en.Flushed = flushed
	if final {
		en.Close = closeTS
	}
	en.Originator = origin
	if !en.Request.HTTP && en.Request.HeaderLen < 0 {
		rawHead(&en.Request)
	}
	if !en.Response.HTTP && en.Response.HeaderLen < 0 {
		rawHead(&en.Response)
	}
	if en.Response.First.IsZero() && !en.Response.Last.IsZero() {
		en.Response.First = en.Response.Last
	}
	c.shown++
	c.S.Entries++
	en.Streams = c.S.Table.Len()
	c.S.Emit(en)
	c.recycle(x)
}

// emitEarly prints the oldest exchange before it is complete, to bound the
// queue.
func (c *Conn) emitEarly() {
	x := c.queue[0]
	c.Decoder().Early(x)
	c.emitAt(0, c.T.LastSeen, time.Time{}, entry.None, false)
}

// rawHead sets the header length of a message that was not parsed as HTTP:
// the bytes up to the first blank line, as justniffer reads them.
// The caller checks that the message was not parsed as HTTP (m.HTTP is
// false) and has no header length yet.
func rawHead(m *entry.Message) {
	m.Head = 0
	if i := bytes.Index(m.Bytes, []byte("\r\n\r\n")); i >= 0 {
		m.HeaderLen = i + 4
	}
}
