package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Bounds of GET /v1/events.
const (
	// maxStreams bounds the event streams open at once; one more answers
	// 503. They do not count among maxInFlight: a stream lasts as long as
	// its client wants, and must not starve the other routes.
	maxStreams = 8
	// streamBuffer bounds the events held for one stream that its client
	// has not taken; past it, the client gets a "missed" event instead.
	streamBuffer = 64
	// streamKeepalive is how often an idle stream gets a comment line, so
	// that proxies keep it open and a client that went away is noticed.
	streamKeepalive = 15 * time.Second
	// streamWriteTimeout bounds one write to a stream: a client that stops
	// reading is cut off after it rather than holding the stream.
	streamWriteTimeout = 10 * time.Second
)

// errStreamsBusy answers a stream beyond maxStreams.
var errStreamsBusy = fmt.Errorf("too many event streams open (%d): try again later", maxStreams)

// events streams the node's membership events as server-sent events
// (text/event-stream): one event per membership event, named by its kind,
// with an Event as JSON data, until the client goes, the node closes (a
// last "end" event with an Error says why) or a write does not complete
// within streamWriteTimeout.
func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sub, err := h.node.Events(ctx, streamBuffer)
	if err != nil {
		writeError(w, statusOf(err, http.StatusInternalServerError), err)
		return
	}
	defer sub.Close()
	rc := http.NewResponseController(w)
	// The server's deadlines bound ordinary requests; a stream has its
	// own: none on reading (the request has been read), and one per write.
	_ = rc.SetReadDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no") // nginx: do not buffer
	w.WriteHeader(http.StatusOK)
	var buf bytes.Buffer
	send := func() bool {
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		_, err := w.Write(buf.Bytes())
		buf.Reset()
		if err == nil {
			err = rc.Flush()
		}
		return err == nil
	}
	fmt.Fprintf(&buf, ": events of %s\n\n", h.node.Name())
	if !send() {
		return
	}
	keepalive := time.NewTicker(streamKeepalive)
	defer keepalive.Stop()
	var seq int64
	for {
		select {
		case e, ok := <-sub.C():
			if !ok {
				reason := sub.Err()
				if ctx.Err() != nil {
					return // the client went
				}
				if reason == nil {
					reason = errors.New("the node ended the stream")
				}
				writeEvent(&buf, "end", 0, Error{Error: reason.Error()})
				send()
				return
			}
			seq++
			writeEvent(&buf, e.Kind, seq, eventOf(h.node.Name(), seq, e))
			if !send() {
				return
			}
		case <-keepalive.C:
			buf.WriteString(": keepalive\n\n")
			if !send() {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// writeEvent appends one server-sent event to buf: its name, its id
// unless zero, and v as one line of JSON.
func writeEvent(buf *bytes.Buffer, name string, id int64, v any) {
	b, _ := json.Marshal(v) // of our own types: cannot fail
	if strings.ContainsAny(name, "\r\n") {
		// It would end the field: the node's kinds are plain words.
		name = "message"
	}
	fmt.Fprintf(buf, "event: %s\n", name)
	if id != 0 {
		fmt.Fprintf(buf, "id: %d\n", id)
	}
	fmt.Fprintf(buf, "data: %s\n\n", b)
}

// eventOf is e as JSON of node's stream, numbered seq.
func eventOf(node string, seq int64, e EventInfo) Event {
	j := Event{
		Node: node, Seq: seq, Kind: e.Kind, At: e.At, Member: e.Member, Self: e.Self, GossipAddr: e.GossipAddr,
		RemoteAddr: e.RemoteAddr, Capabilities: e.Capabilities, Labels: e.Labels, Draining: e.Draining, Missed: e.Missed,
	}
	if e.Incarnation != 0 {
		j.Incarnation = formatVersion(e.Incarnation)
	}
	return j
}
