// Package admin is the admin HTTP endpoint of a mesh node: JSON views of
// the cluster as the node sees it, Prometheus metrics, health and
// readiness, and calls for debugging. mesh starts it when Config.AdminAddr
// is set; cmd/mesh, the operator CLI, reads its answers with the types of
// this package.
//
// # Routes
//
//	GET  /                  Index: the node and its routes
//	GET  /v1/members        Members: state, last seen, capabilities, labels,
//	                        addresses; each member is pinged through the mesh
//	                        (500 ms) for its admin address and routing
//	                        version, unless ?ping=false
//	GET  /v1/activations    Activations of this node, sorted by capability and
//	                        ID (?capability=C, ?limit=N: default 1000, 0 for all)
//	GET  /v1/owner          Owner of ?capability=C&id=ID: shard, owner, ring
//	GET  /v1/status         Status: running, or degraded with the reasons
//	GET  /v1/ping           Pings through the mesh of every member, or ?node=N
//	                        (?timeout=D, default 2s, at most 30s)
//	GET  /v1/events         membership events as server-sent events (see Events)
//	POST /v1/call           CallRequest in (Content-Type: application/json),
//	                        CallReply or CallError out; only with Options.Calls
//	GET  /metrics           the node's Prometheus metrics
//	GET  /healthz           Health: 200 while the node serves
//	GET  /readyz            Ready: 200 once joined and converged, 503 before,
//	                        while draining and without quorum (mesh's
//	                        Node.Ready says when)
//	GET  /dashboard         The dashboard, a web page kept live by
//	                        GET /dashboard/events (server-sent events: a
//	                        snapshot a second, at most 16 pages at once,
//	                        not counted among the 32 requests below);
//	                        GET /dashboard/where?capability=C&id=ID says
//	                        where a process lives and why; POST
//	                        /dashboard/login trades a token for a cookie
//
// Answers are indented JSON (application/json), but for the dashboard's
// pages (HTML) and events (text/event-stream). A request the endpoint
// refuses is answered with an Error: 401 for missing or refused
// credentials and 403 for a read token on POST /v1/call (see
// Authentication), 400 for a malformed request (a bad limit or timeout, an
// invalid capability or ID, a payload that does not decode, a timeout
// longer than allowed), 404 for a member no one knows or a capability no
// member offers, 403 for POST /v1/call without Options.Calls, 415 for a
// call whose body is not sent as application/json, 503 with Retry-After
// when 32 requests are in progress already (the probes are not counted). A call the node made
// answers with a CallError if it failed, which carries the outcome label of
// the call in mesh_calls_total: 400 if the node refused the request as
// invalid, 503 if the node is closing and sent nothing (another node may
// take the call), 502 otherwise.
//
// POST /v1/call takes a payload in protobuf JSON, of a message type linked
// into the program (protoregistry.GlobalTypes): named by CallRequest.Type,
// or given as a google.protobuf.Any with @type. Its body is limited to
// 1 MiB. Its timeout, if given, may be at most Options.MaxCallTimeout
// (mesh's Config.CallTimeout); without one the node bounds the call
// itself. Requiring application/json keeps web pages from calling: a
// browser sends a form or text/plain to another site without asking it
// first, but not JSON.
//
// # Events
//
// GET /v1/events answers text/event-stream: one server-sent event per
// membership event of the node, named by its kind, with an Event as its
// JSON data and its Seq as its id. It begins with one "present" event per
// member, sorted by name, then every change in the order the node heard of
// it. The endpoint holds at most 64 events a client has not read; past
// that, the client gets one "missed" event counting those dropped where
// they stood, and may GET /v1/members to catch up. A comment line comes
// every 15 s while nothing happens. The stream ends when the client goes,
// when a write to it does not complete within 10 s, or when the node
// closes, in which case a last "end" event carries an Error saying why. At
// most 8 streams are open at once (one more answers 503); they do not
// count among the 32 requests in progress. It needs RoleRead.
//
//	event: joined
//	id: 3
//	data: {"at":"2026-12-02T01:46:22.1Z","capabilities":["echo"],"kind":"joined","member":"node-2",...}
//
// # Authentication
//
// With Options.Tokens set, every route but /healthz and /readyz needs
// "Authorization: Bearer SECRET" with the secret of one of the tokens;
// the probes stay open because orchestrators (Kubernetes, load balancers)
// probe without credentials, and they disclose only the node's name and
// whether it is ready. A token of RoleRead may GET every other route,
// /metrics included (Prometheus sends one with its scrape config's
// authorization: credentials, or bearer_token_file); POST /v1/call needs
// RoleOperator. Without valid credentials a route answers 401 with
// WWW-Authenticate: Bearer realm="mesh" (and error="invalid_token" for a
// token the endpoint does not accept); a read token on POST /v1/call
// gets 403 with error="insufficient_scope". Secrets are compared as
// SHA-256 digests in constant time, against every token, and never
// logged. Without tokens, the endpoint has no authentication: anyone who
// reaches it may read it, and call any process if Options.Calls is set.
//
// The dashboard's routes need RoleRead too. A browser cannot put a
// bearer token on a page's live updates (EventSource), so GET /dashboard
// without credentials answers 401 with a form that posts a token to
// /dashboard/login (in the body, never in a URL); a token of either role
// is answered with a session cookie, HttpOnly, SameSite=Strict, Secure
// over HTTPS, for Path=/dashboard only, valid 12 hours, named after the
// endpoint's port (browsers keep one cookie jar per host, so a program
// on another port of the host that the browser visits receives it too).
// The cookie is not the token but an HMAC, under a key the handler draws
// when it is made, of its expiry and the token's digest: it opens
// nothing but the dashboard, on no other node, and no longer once the
// node restarts. A login posted from another site, or another port of
// the host, is refused (Sec-Fetch-Site, Origin). The dashboard changes
// nothing in the node; its answers forbid inline and foreign scripts,
// framing and caching (Content-Security-Policy, X-Frame-Options,
// Cache-Control), and write every name, label and ID as text. A
// verified client certificate opens it as it opens the other routes.
//
// With Options.TLS set, Listen serves HTTPS. If its ClientAuth verifies
// client certificates (tls.VerifyClientCertIfGiven, or
// tls.RequireAndVerifyClientCert, under which the handshake refuses a
// client without one, probes included), a certificate that verifies
// against its ClientCAs grants RoleOperator, as an alternative to a
// token.
//
//	s, err := admin.Listen("10.0.0.7:9101", node, admin.Options{Calls: true, Tokens: []admin.Token{
//		{Secret: os.Getenv("MESH_READ_TOKEN")},                           // RoleRead
//		{Secret: os.Getenv("MESH_OPERATOR_TOKEN"), Role: admin.RoleOperator},
//	}})
//
// # Configuration
//
// The endpoint serves a Node, a narrow view of a node that mesh implements
// over its *mesh.Node; this package does not import mesh. NewHandler
// returns the routes as an http.Handler; Listen serves them on an address
// until Server.Shutdown, with bounds on how long a client may take to
// send a request or read an answer, and on idle connections.
// Options.Calls turns POST /v1/call on (mesh's Config.AdminCalls);
// Options.Tokens (Config.AdminTokens) turn authentication on. Without
// tokens, bind the endpoint to an address only operators reach.
//
// # Concurrency
//
// The handler keeps no state between requests but the count of those in
// progress and the dashboard's: it serves requests concurrently, each
// calling the Node's methods from its own goroutine, so a Node must be
// safe for concurrent use. A request's context bounds what the Node does
// for it (pings, calls, status).
//
// The dashboard reads the Node's view (Members, RoutingVersion, Rings)
// every second and its Metrics every 2 s, keeps five minutes of the
// metrics and a timeline of the changes it saw between readings (joins,
// state changes, failures, leaves, new placements, handed-off states),
// all bounded. A Server made by Listen reads from a goroutine of its own
// from the start until Shutdown, which also ends the live pages; a
// handler from NewHandler reads only while a live page asks, so its
// history starts then.
package admin
