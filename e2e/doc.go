// Package e2e holds mesh's tests in a real browser: a cluster of nodes in
// the test's process, and headless Chromium, driven by chromedp, loading
// the admin endpoint's dashboard from one of them.
//
// It is a module of its own so that chromedp stays out of mesh's module
// graph: a program that imports mesh never sees it.
//
// # Usage
//
//	go test -race ./e2e/...
//
// The tests need Chromium on the PATH (Debian: apt-get install chromium).
// Without it they skip, unless CI=true, where they fail. Screenshots go
// to $MESH_E2E_ARTIFACTS if set, else to a temporary directory the test
// logs.
//
// # Concurrency
//
// Each test starts its own cluster and browser, and stops both before it
// returns.
package e2e
