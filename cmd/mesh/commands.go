package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/meshrun/mesh/admin"
	"github.com/spf13/cobra"
)

// nodeActivation is an activation in the answer of actors: the node's
// answer, with the node.
type nodeActivation struct {
	Node string `json:"node"`
	admin.Activation
}

func peersCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "peers",
		Short: "List the members of the cluster, their state and what they offer",
		Long: `List the members of the cluster as the first node that answers sees them:
state (alive, suspect, draining), when it last heard from each, capabilities,
labels and addresses (gossip, remote, admin).`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var ans admin.Members
			var raw []byte
			if _, err := newClient(o).get(cmd.Context(), o.addrs, "/v1/members", &ans, &raw); err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			if o.json() {
				return writeRaw(o.stdout, raw)
			}
			t := newTable(o.stdout, "NAME", "STATE", "LAST SEEN", "CAPABILITIES", "LABELS", "GOSSIP", "REMOTE", "ADMIN")
			for _, m := range ans.Members {
				seen := fmt.Sprintf("%.1fs ago", m.LastSeenAgo)
				if m.Self {
					seen = "(answered)"
				}
				t.row(m.Name, m.State, seen, orDash(strings.Join(m.Capabilities, ",")), orDash(labels(m.Labels)),
					m.GossipAddr, m.RemoteAddr, orDash(m.AdminAddr))
			}
			return t.flush()
		},
	}
}

func actorsCommand(o *options) *cobra.Command {
	var capability string
	var limit int
	cmd := &cobra.Command{
		Use:   "actors",
		Short: "List the activations of every node",
		Long: `List the processes active on every node of the cluster: the first node that
answers names the members and their admin endpoints, and each is asked for its
activations. Exits 3 if some node could not be asked.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c := newClient(o)
			var ans admin.Members
			if _, err := c.get(ctx, o.addrs, "/v1/members", &ans, nil); err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			q := url.Values{"limit": {fmt.Sprint(limit)}}
			if capability != "" {
				q.Set("capability", capability)
			}
			type result struct {
				acts admin.Activations
				err  error
			}
			results := make([]result, len(ans.Members))
			var wg sync.WaitGroup
			for i, m := range ans.Members {
				if m.AdminAddr == "" {
					results[i].err = fmt.Errorf("no admin endpoint known (%s)", orDefault(m.PingError, "the node has none"))
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i].err = c.do(ctx, "GET", m.AdminAddr, "/v1/activations?"+q.Encode(), nil, &results[i].acts, nil)
				}()
			}
			wg.Wait()
			var all []nodeActivation
			failed := map[string]string{}
			truncated := false
			for i, r := range results {
				if r.err != nil {
					failed[ans.Members[i].Name] = r.err.Error()
					continue
				}
				truncated = truncated || r.acts.Truncated
				for _, a := range r.acts.Activations {
					all = append(all, nodeActivation{Node: ans.Members[i].Name, Activation: a})
				}
			}
			if o.json() {
				if all == nil {
					all = []nodeActivation{}
				}
				if err := writeJSON(o.stdout, map[string]any{"activations": all, "errors": failed, "truncated": truncated}); err != nil {
					return err
				}
			} else {
				t := newTable(o.stdout, "NODE", "CAPABILITY", "ID", "SHARD", "AGE", "IDLE", "STATE FROM")
				for _, a := range all {
					t.row(a.Node, a.Capability, a.ID, a.Shard, seconds(a.AgeSeconds), seconds(a.IdleSeconds), orDash(a.Origin))
				}
				if err := t.flush(); err != nil {
					return err
				}
				if truncated {
					fmt.Fprintf(o.stderr, "some nodes hold more than %d activations: raise --limit (0 for all)\n", limit)
				}
			}
			if len(failed) > 0 {
				for _, name := range slices.Sorted(maps.Keys(failed)) {
					fmt.Fprintf(o.stderr, "mesh: %s: %s\n", name, failed[name])
				}
				return &exitError{code: exitPartial}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&capability, "capability", "c", "", "list only activations of this capability")
	cmd.Flags().IntVar(&limit, "limit", 1000, "at most this many activations per node; 0 for all")
	return cmd
}

func ownerCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "owner CAPABILITY ID",
		Short: "Name the node that owns a process, its shard and routing versions",
		Long: `Name the node that owns (CAPABILITY, ID) as the first node that answers sees it:
the ID's shard, the owner of that shard on the capability's ring, the ring's
version and the node's routing version, and the nodes on the ring. Then how the
ring was formed: the labels the capability requires, and every member, on the
ring or off it and why (lacks the capability, draining, lacks label k=v,
declares another requirement). CAPABILITY may be scoped, as game@eu.`,
		Args: args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			var ans admin.Owner
			var raw []byte
			path := "/v1/owner?" + url.Values{"capability": {a[0]}, "id": {a[1]}}.Encode()
			if _, err := newClient(o).get(cmd.Context(), o.addrs, path, &ans, &raw); err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			if o.json() {
				return writeRaw(o.stdout, raw)
			}
			fmt.Fprintf(o.stdout, "%s/%s is owned by %s\n", ans.Capability, ans.ID, ans.Owner)
			fmt.Fprintf(o.stdout, "  shard %d of the %s ring %s over %s\n", ans.Shard, ans.Capability, ans.RingVersion,
				strings.Join(ans.RingNodes, ", "))
			fmt.Fprintf(o.stdout, "  as %s sees it, routing version %s\n", ans.Node, ans.RoutingVersion)
			fmt.Fprintf(o.stdout, "  requires %s\n", orDefault(labels(ans.Requires), "no labels"))
			t := newTable(o.stdout, "  MEMBER", "RING", "WHY NOT")
			for _, m := range ans.Members {
				ring := "off"
				switch {
				case m.OnRing && m.Weight > 1:
					ring = fmt.Sprintf("on, weight %d", m.Weight)
				case m.OnRing:
					ring = "on"
				}
				t.row("  "+m.Name, ring, orDash(m.Reason))
			}
			return t.flush()
		},
	}
}

func pingCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "ping [NODE]",
		Short: "Measure the round trip through the mesh to every node, or to NODE",
		Long: `Ping every member, or NODE, through the mesh itself: the first node that
answers sends a ping over its actor transport to each member's router and times
the answer, the path a call's first message takes. Exits 3 if some node did
not answer (1 if NODE did not).`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			path := "/v1/ping?timeout=" + url.QueryEscape(min(o.timeout/2, admin.MaxPingTimeout).String())
			if len(a) == 1 {
				path += "&node=" + url.QueryEscape(a[0])
			}
			var ans admin.Pings
			var raw []byte
			if _, err := newClient(o).get(cmd.Context(), o.addrs, path, &ans, &raw); err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			failed := 0
			for _, p := range ans.Pings {
				if p.Error != "" {
					failed++
				}
			}
			if o.json() {
				if err := writeRaw(o.stdout, raw); err != nil {
					return err
				}
			} else {
				t := newTable(o.stdout, "NODE", "RTT", "ROUTING VERSION", "ACTIVATIONS", "ERROR")
				for _, p := range ans.Pings {
					if p.Error != "" {
						t.row(p.Node, "-", "-", "-", p.Error)
						continue
					}
					t.row(p.Node, fmt.Sprintf("%.3fms", p.RTTMs), p.RoutingVersion, p.Activations, "")
				}
				if err := t.flush(); err != nil {
					return err
				}
			}
			switch {
			case failed > 0 && len(a) == 1:
				return &exitError{code: exitFailure}
			case failed > 0:
				return &exitError{code: exitPartial}
			}
			return nil
		},
	}
}

func statusCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Say whether the cluster is running or degraded, and why",
		Long: `Ask the first node that answers for the cluster's status: running, or
degraded with the reasons (a capability no member offers any more, a member
that failed or is suspect or does not answer a ping, members routing by
different placements, a member draining). Exits 0 when running, 3 when
degraded.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var ans admin.Status
			var raw []byte
			if _, err := newClient(o).get(cmd.Context(), o.addrs, "/v1/status", &ans, &raw); err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			if o.json() {
				if err := writeRaw(o.stdout, raw); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(o.stdout, "%s (as %s sees it: %d alive, %d suspect, %d draining; routing version %s)\n",
					ans.Status, ans.Node, ans.Members["alive"], ans.Members["suspect"], ans.Members["draining"], ans.RoutingVersion)
				for _, r := range ans.Reasons {
					fmt.Fprintf(o.stdout, "  %s: %s\n", r.Kind, r.Detail)
				}
			}
			if ans.Status != "running" {
				return &exitError{code: exitPartial}
			}
			return nil
		},
	}
}

func callCommand(o *options) *cobra.Command {
	var payload, typ, timeout string
	cmd := &cobra.Command{
		Use:   "call CAPABILITY ID --json PAYLOAD [--type MESSAGE]",
		Short: "Call a process with a JSON payload, for debugging",
		Long: `Call the process (CAPABILITY, ID) through the first node that answers and
print its reply. The payload is protobuf JSON of a message type linked into
that node: give its full name with --type, or write the payload as a
google.protobuf.Any with "@type". The node must have Config.AdminCalls set.

  mesh call counter user-1 --type mesh.examples.counter.Add --json '{"delta": 1}'
  mesh call echo a --json '{"@type": "type.googleapis.com/google.protobuf.StringValue", "value": "hi"}'`,
		Args: args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if !json.Valid([]byte(payload)) {
				return usageError(fmt.Errorf("--json %q is not JSON", payload))
			}
			body := admin.CallRequest{Capability: a[0], ID: a[1], Type: typ, Payload: json.RawMessage(payload), Timeout: timeout}
			var ans admin.CallReply
			var raw []byte
			_, err := newClient(o).post(cmd.Context(), o.addrs, "/v1/call", body, &ans, &raw)
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			if o.json() {
				return writeRaw(o.stdout, raw)
			}
			var out bytes.Buffer
			if err := json.Indent(&out, ans.Reply, "", "  "); err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			fmt.Fprintln(o.stdout, out.String())
			fmt.Fprintf(o.stderr, "called through %s in %.3fms\n", ans.Node, ans.TookMs)
			return nil
		},
	}
	cmd.Flags().StringVar(&payload, "json", "", "the payload, as protobuf JSON (required)")
	cmd.Flags().StringVar(&typ, "type", "", "full name of the payload's message type, e.g. mesh.examples.counter.Add")
	cmd.Flags().StringVar(&timeout, "call-timeout", "", "bound on the call, e.g. 2s (default: the node's CallTimeout)")
	_ = cmd.MarkFlagRequired("json")
	return cmd
}

// table writes aligned columns.
type table struct{ w *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{w: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	fmt.Fprintln(t.w, strings.Join(header, "\t"))
	return t
}

func (t *table) row(cells ...any) {
	s := make([]string, len(cells))
	for i, c := range cells {
		s[i] = fmt.Sprint(c)
	}
	fmt.Fprintln(t.w, strings.Join(s, "\t"))
}

func (t *table) flush() error { return t.w.Flush() }

// writeRaw writes a node's JSON answer as it came.
func writeRaw(w io.Writer, raw []byte) error {
	_, err := w.Write(raw)
	return err
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func labels(m map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}

func seconds(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(100 * time.Millisecond).String()
}

func orDash(s string) string { return orDefault(s, "-") }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
