package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/meshrun/mesh/admin"
	"github.com/spf13/cobra"
)

// maxEventLine bounds one line, and one event, of an event stream: an
// event is a few hundred bytes; a node's metadata is at most 512.
const maxEventLine = 64 << 10

func watchCommand(o *options) *cobra.Command {
	var asJSON bool
	var count int
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Print the membership events of the cluster as they happen",
		Long: `Print the membership events of the first node that answers, one line each:
first the members present, then every join, graceful leave, failure, change of
capabilities or labels, drain and restart, as the node hears of them. "missed N"
means the watch fell behind and N events were dropped; run mesh peers to catch
up. --json prints each event as the node's JSON instead. Runs until interrupted,
until --count events have been printed, or until the node ends the stream
(exit 1).`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if count < 0 {
				return usageError(fmt.Errorf("--count %d: want a count, 0 for no limit", count))
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			c := newClient(o)
			var resp *http.Response
			addr, err := first(o.addrs, func(addr string) error {
				var err error
				resp, err = c.stream(ctx, addr, "/v1/events")
				return err
			}, func(err error) bool { var op *net.OpError; return errors.As(err, &op) && op.Op == "dial" })
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			defer resp.Body.Close()
			jsonOut := asJSON || o.json()
			printed := 0
			err = readStream(resp.Body, func(name string, data []byte) error {
				if name == "end" {
					var e admin.Error
					_ = json.Unmarshal(data, &e)
					return fmt.Errorf("%s ended the stream: %s", addr, orDefault(e.Error, "no reason given"))
				}
				var e admin.Event
				if err := json.Unmarshal(data, &e); err != nil {
					return fmt.Errorf("%s: unexpected event %q: %w", addr, data, err)
				}
				if jsonOut {
					fmt.Fprintf(o.stdout, "%s\n", data)
				} else {
					fmt.Fprintln(o.stdout, eventLine(e))
				}
				printed++
				if count > 0 && printed >= count {
					return io.EOF
				}
				return nil
			})
			switch {
			case errors.Is(err, io.EOF), ctx.Err() != nil:
				return nil
			case err == nil:
				err = fmt.Errorf("%s closed the stream", addr)
			}
			return &exitError{code: exitFailure, err: err}
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print each event as JSON, one per line (as -o json)")
	cmd.Flags().IntVar(&count, "count", 0, "stop after this many events (0: no limit)")
	return cmd
}

// stream GETs path from addr and returns the response once the node has
// answered 200: --timeout bounds the wait for the answer, not the
// stream, which ctx ends.
func (c *client) stream(ctx context.Context, addr, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	// --timeout bounds the dial and the answer's headers, not the stream.
	hctx, cancel := context.WithCancel(ctx)
	headers := time.AfterFunc(c.timeout, cancel)
	resp, err := c.http.Do(req.WithContext(hctx))
	if !headers.Stop() {
		// Fired: the request's context is canceled, answered or not.
		if err == nil {
			resp.Body.Close()
			err = context.DeadlineExceeded
		}
		err = fmt.Errorf("%s: no answer within --timeout %v: %w", addr, c.timeout, err)
	}
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer cancel()
		defer resp.Body.Close()
		if msg := c.refused(addr, resp); msg != "" {
			return nil, &apiError{status: resp.StatusCode, msg: msg}
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var e admin.Error
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return nil, &apiError{status: resp.StatusCode, msg: e.Error}
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelBody cancels the request's context when the body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// readStream calls event with the name and data of each server-sent event
// of r until r ends (nil) or event returns an error (returned).
func readStream(r io.Reader, event func(name string, data []byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxEventLine)
	name, data := "", []byte(nil)
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case len(line) == 0:
			if data != nil {
				if name == "" {
					name = "message"
				}
				if err := event(name, data); err != nil {
					return err
				}
			}
			name, data = "", nil
		case line[0] == ':':
		default:
			field, value, _ := strings.Cut(string(line), ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "event":
				name = value
			case "data":
				if len(data)+len(value)+1 > maxEventLine {
					return fmt.Errorf("an event of more than %d bytes: not a mesh node's", maxEventLine)
				}
				if data != nil {
					data = append(data, '\n')
				}
				data = append(data, value...)
				if data == nil {
					data = []byte{}
				}
			}
		}
	}
	return sc.Err()
}

// eventLine is one event as watch prints it: the time, the kind, the
// member and what the event says of it.
func eventLine(e admin.Event) string {
	at := e.At.UTC().Format("15:04:05.000")
	if e.Kind == "missed" {
		return fmt.Sprintf("%s %-20s %d events dropped: the watch fell behind (mesh peers shows the members now)", at, e.Kind, e.Missed)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %-20s %s", at, e.Kind, e.Member)
	if e.Self {
		b.WriteString(" (self)")
	}
	switch e.Kind {
	case "present", "joined", "restarted", "capabilities_changed":
		fmt.Fprintf(&b, " capabilities=%s", orDash(strings.Join(e.Capabilities, ",")))
	}
	switch e.Kind {
	case "present", "joined", "restarted", "labels_changed":
		if len(e.Labels) > 0 {
			fmt.Fprintf(&b, " labels=%s", labels(e.Labels))
		}
	}
	if e.Draining && e.Kind != "draining" {
		b.WriteString(" draining")
	}
	if e.Kind == "present" || e.Kind == "joined" || e.Kind == "restarted" {
		fmt.Fprintf(&b, " remote=%s incarnation=%s", orDash(e.RemoteAddr), orDash(e.Incarnation))
	}
	return b.String()
}
