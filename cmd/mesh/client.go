package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/meshrun/mesh/admin"
)

// client talks to admin endpoints.
type client struct {
	http    *http.Client
	timeout time.Duration
	// token is sent as a bearer token to every endpoint, if not empty.
	token string
}

func newClient(o *options) *client {
	return &client{
		http:    &http.Client{Transport: &http.Transport{DisableKeepAlives: true}},
		timeout: o.timeout,
		token:   o.token,
	}
}

// apiError is an error answer of an admin endpoint.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return fmt.Sprintf("%s (HTTP %d)", e.msg, e.status) }

// do sends a request to addr and decodes the JSON answer into v; raw, if
// not nil, receives the body as it came. An answer with a status of 400 or
// more is an *apiError.
func (c *client) do(ctx context.Context, method, addr, path string, body any, v any, raw *[]byte) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s: %w", addr, err)
	}
	if raw != nil {
		*raw = b
	}
	if msg := c.refused(addr, resp); msg != "" {
		return &apiError{status: resp.StatusCode, msg: msg}
	}
	if resp.StatusCode >= 400 {
		var e admin.Error
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return &apiError{status: resp.StatusCode, msg: e.Error}
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			return fmt.Errorf("%s%s: unexpected answer: %w", addr, path, err)
		}
	}
	return nil
}

// refused says what to do about an answer that refused the client's
// credentials, 401, or their role (403 with the insufficient_scope
// challenge of RFC 6750); "" for any other answer.
func (c *client) refused(addr string, resp *http.Response) string {
	switch {
	case resp.StatusCode == http.StatusUnauthorized && c.token == "":
		return addr + " needs a token: give --token or set " + tokenEnv
	case resp.StatusCode == http.StatusUnauthorized:
		return addr + " refused the token: check --token or " + tokenEnv
	case resp.StatusCode == http.StatusForbidden && strings.Contains(resp.Header.Get("WWW-Authenticate"), "insufficient_scope"):
		return addr + ": the token is read-only: this needs an operator token"
	}
	return ""
}

// get GETs path from the first of addrs that answers, decoding into v, and
// returns the address that answered. An error answer from a node ends the
// search: another node would give the same.
func (c *client) get(ctx context.Context, addrs []string, path string, v any, raw *[]byte) (string, error) {
	return first(addrs, func(addr string) error { return c.do(ctx, http.MethodGet, addr, path, nil, v, raw) },
		func(err error) bool { var ae *apiError; return !errors.As(err, &ae) })
}

// post POSTs body to the first of addrs that accepts a connection and
// does not answer 503 (a closing node, which did not act on it): a request
// that may have reached a process is not sent to another node.
func (c *client) post(ctx context.Context, addrs []string, path string, body, v any, raw *[]byte) (string, error) {
	return first(addrs, func(addr string) error { return c.do(ctx, http.MethodPost, addr, path, body, v, raw) },
		func(err error) bool {
			var op *net.OpError
			var ae *apiError
			return errors.As(err, &op) && op.Op == "dial" || errors.As(err, &ae) && ae.status == http.StatusServiceUnavailable
		})
}

// first calls try on each of addrs in turn until it succeeds or fails with
// an error next does not accept, and returns the address it stopped at.
func first(addrs []string, try func(addr string) error, next func(error) bool) (string, error) {
	var errs []error
	for _, addr := range addrs {
		err := try(addr)
		if err == nil || !next(err) {
			return addr, err
		}
		errs = append(errs, err)
	}
	return "", fmt.Errorf("no admin endpoint answered: %w", errors.Join(errs...))
}
