package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/admin"
	"github.com/meshrun/mesh/meshtest"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// hostile is an ID that would run a script if the page wrote it as
// markup: it sets window.__pwned.
const hostile = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>`

// readToken is the read token of the cluster's admin endpoints.
const readToken = "e2e-read-token-0123456789"

// echo answers the ID it was called with. It hands its state off when
// its shard moves in a planned change, so that the dashboard has
// handoffs to show.
type echo struct{ id string }

func (e *echo) Handle(mesh.Context, proto.Message) (proto.Message, error) {
	return wrapperspb.String(e.id), nil
}

func (e *echo) Snapshot() (proto.Message, uint32, error) { return wrapperspb.String(e.id), 1, nil }

func (e *echo) Restore(state proto.Message, _ uint32) error {
	e.id = state.(*wrapperspb.StringValue).GetValue()
	return nil
}

var echoes = mesh.Capability{Name: "echo", New: func(id string) mesh.Process { return &echo{id} }}

// callAll calls the echo of 50 IDs through n, each retried for up to 10 s
// while the cluster settles.
func callAll(t *testing.T, n *mesh.Node) {
	t.Helper()
	for i := range 50 {
		id := fmt.Sprintf("user-%d", i)
		deadline := time.Now().Add(10 * time.Second)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := n.Call(ctx, mesh.Request{Capability: "echo", ID: id, Payload: wrapperspb.String("hi")})
			cancel()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("call %s: %v", id, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// The page's state, read from its DOM.
const (
	// membersJS lists the member rows as "name=state".
	membersJS = `[...document.querySelectorAll("#members tr")].map(tr => tr.dataset.member + "=" + tr.dataset.state).join(",")`
	// ringsJS describes each ring as "capability:shards=owner:count+...".
	ringsJS = `[...document.querySelectorAll("#rings table.ring")].map(t => t.dataset.capability + ":" + t.dataset.shards + "=" +
		[...t.querySelectorAll("tr[data-owner]")].map(tr => tr.dataset.owner + ":" + tr.dataset.shards).join("+")).join(",")`
	// pageJS is what a failure message shows of the page.
	pageJS = `"members: " + (` + membersJS + `) + "\nrings: " + (` + ringsJS + `) + "\nlive: " +
		document.getElementById("live").textContent + "\ntimeline:\n" +
		[...document.querySelectorAll("#timeline li")].slice(0, 12).map(li => li.textContent).join("\n")`
)

// ringWhole is a JavaScript expression: true when the ring of echo has
// exactly the owners want, whose shards sum to the ring's shard count.
func ringWhole(owners ...string) string {
	return fmt.Sprintf(`(() => {
		const t = document.querySelector('#rings table.ring[data-capability="echo"]');
		if (!t) return false;
		const rows = [...t.querySelectorAll("tr[data-owner]")];
		const want = %s;
		const sum = rows.reduce((s, tr) => s + Number(tr.dataset.shards), 0);
		return rows.length === want.length && rows.every(tr => want.includes(tr.dataset.owner) && Number(tr.dataset.shards) > 0) &&
			sum === Number(t.dataset.shards);
	})()`, jsArray(owners))
}

func jsArray(names []string) string {
	out := "["
	for i, n := range names {
		if i > 0 {
			out += ","
		}
		out += jsString(n)
	}
	return out + "]"
}

// TestDashboard: in headless Chromium, node-1's dashboard, opened with a
// read token traded for a cookie, lists the three alive members and the
// shards each owns, with their labels; the where box names an ID's owner
// and shows a hostile ID as text; once node-3 is killed, the live page shows it
// failed, a failure and a rebalance in its timeline, and its shards
// owned by the two survivors; once node-3 is back, its join, the states
// handed back to it, and the ring of three again.
func TestDashboard(t *testing.T) {
	chromium(t) // skip before starting a cluster if there is no browser
	c := meshtest.NewCluster(t, 3, meshtest.WithCapabilities(echoes), meshtest.WithConfig(func(cfg *mesh.Config) {
		cfg.AdminAddr = "127.0.0.1:0"
		cfg.AdminTokens = []admin.Token{{Secret: readToken}}
		cfg.Labels = map[string]string{"zone": "a"}
	}))
	node1 := c.Node("node-1")
	base := "http://" + node1.AdminAddr()
	// After the cluster, so that the browser stops first, before the
	// cluster's check that the nodes left no goroutine behind.
	ctx := browser(t, 3*time.Minute)
	shots := artefacts(t)

	// Calls through node-1, so that its call rates have something to show.
	callAll(t, node1)

	// Without the cookie the page is the login form; the token goes in
	// the form, not in a URL.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/dashboard"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), readToken),
		chromedp.Click(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("members")),
	); err != nil {
		t.Fatalf("login: %v", err)
	}
	url, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	cookie, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.cookie`))
	if err != nil {
		t.Fatal(err)
	}
	if url != base+"/dashboard" || cookie != "" {
		t.Errorf("after login: at %q, script sees cookies %q; want %s/dashboard and an HttpOnly cookie", url, cookie, base)
	}

	// Live: three alive members, every shard of echo owned by one of them.
	waitFor(t, ctx, 30*time.Second, "live page with 3 alive members",
		`document.getElementById("live").dataset.live === "true" && (`+membersJS+`) === "node-1=alive,node-2=alive,node-3=alive"`, pageJS)
	waitFor(t, ctx, 10*time.Second, "echo's shards owned by 3 nodes", ringWhole("node-1", "node-2", "node-3"), pageJS)
	waitFor(t, ctx, 30*time.Second, "calls of echo counted",
		`!!document.querySelector('#calls tr[data-capability="echo"] td.rate')`, pageJS)

	// Labels are shown as they are. (They cannot hold markup: Start
	// refuses labels outside [A-Za-z0-9._-]; hostile IDs, which may be
	// any UTF-8, are tried in the where box below.)
	labelText, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`document.querySelector('#members tr[data-member="node-2"] td.labels').textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if labelText != "zone=a" {
		t.Errorf("node-2's labels shown as %q, want zone=a", labelText)
	}

	// The where box names the owner the cluster agrees on.
	owner := c.Owner("echo", "user-7").Name()
	ownerCell := chromedp.CSS(`#where-result td[data-field="Owner"]`)
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("where-capability"), "echo"),
		chromedp.SendKeys(chromedp.ID("where-id"), "user-7"),
		chromedp.Click(chromedp.ID("where-go")),
		chromedp.WaitVisible(ownerCell),
	); err != nil {
		t.Fatalf("where box: %v", err)
	}
	whereOwner, err := chromedp.Run(ctx, chromedp.Text(ownerCell))
	if err != nil {
		t.Fatal(err)
	}
	if whereOwner != owner {
		t.Errorf("where box: owner %q, the cluster says %q", whereOwner, owner)
	}
	// IDs are any UTF-8: a hostile one is shown as text, and so is the
	// error that quotes a bad capability.
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("where-id"), hostile),
		chromedp.Click(chromedp.ID("where-go")),
	); err != nil {
		t.Fatalf("where box: %v", err)
	}
	waitFor(t, ctx, 10*time.Second, "the hostile ID located",
		`document.querySelector('#where-result td[data-field="ID"]')?.textContent === `+jsString(hostile), pageJS)
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("where-capability"), "<b>Echo"),
		chromedp.Click(chromedp.ID("where-go")),
		chromedp.WaitVisible(chromedp.ID("where-error")),
	); err != nil {
		t.Fatalf("where box: %v", err)
	}
	whereErr, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("where-error")))
	if err != nil {
		t.Fatal(err)
	}
	injected, err := chromedp.Run(ctx, chromedp.Evaluate[bool](
		`window.__pwned !== undefined || document.querySelectorAll("#where-out img, #where-out script, #where-out b").length > 0`))
	if err != nil {
		t.Fatal(err)
	}
	if injected || !strings.Contains(whereErr, "<b>Echo") {
		t.Errorf("where box: injected %v, error shown as %q", injected, whereErr)
	}
	screenshot(t, ctx, shots, "dashboard-3-nodes")

	// Kill node-3: no drain, no goodbye. The page, live all along, shows
	// the failure and the survivors taking its shards.
	c.Kill("node-3")
	waitFor(t, ctx, 60*time.Second, "node-3 shown failed",
		`(`+membersJS+`) === "node-1=alive,node-2=alive,node-3=failed"`, pageJS)
	waitFor(t, ctx, 10*time.Second, "a failure of node-3 in the timeline",
		`[...document.querySelectorAll('#timeline li[data-kind="failure"]')].some(li => li.textContent.includes("node-3"))`, pageJS)
	waitFor(t, ctx, 10*time.Second, "a rebalance in the timeline",
		`!!document.querySelector('#timeline li[data-kind="rebalance"]')`, pageJS)
	waitFor(t, ctx, 10*time.Second, "echo's shards owned by the 2 survivors", ringWhole("node-1", "node-2"), pageJS)
	waitFor(t, ctx, 10*time.Second, "page still live", `document.getElementById("live").dataset.live === "true"`, pageJS)
	screenshot(t, ctx, shots, "dashboard-node-3-killed")

	// The processes of node-3 start again on the survivors at their next
	// call; node-3 comes back, and those on its shards are handed back
	// to it, with their state: the page shows the join, the handoffs and
	// the ring of three again.
	callAll(t, node1)
	c.Restart("node-3")
	waitFor(t, ctx, 60*time.Second, "node-3 alive again",
		`(`+membersJS+`) === "node-1=alive,node-2=alive,node-3=alive"`, pageJS)
	waitFor(t, ctx, 10*time.Second, "node-3's join after its failure in the timeline", `(() => {
		const kinds = [...document.querySelectorAll("#timeline li")].filter(li => li.textContent.includes("node-3")).map(li => li.dataset.kind);
		return kinds.indexOf("join") >= 0 && kinds.indexOf("join") < kinds.indexOf("failure");
	})()`, pageJS)
	waitFor(t, ctx, 30*time.Second, "handoffs in the timeline",
		`[...document.querySelectorAll('#timeline li[data-kind="handoff"]')].some(li => li.textContent.includes("echo: sent"))`, pageJS)
	waitFor(t, ctx, 10*time.Second, "echo's shards owned by 3 nodes again", ringWhole("node-1", "node-2", "node-3"), pageJS)
	screenshot(t, ctx, shots, "dashboard-node-3-back")
}
