// Package meshuser is a program's view of mesh: a module of its own that
// imports github.com/meshrun/mesh as an application does, outside the
// repository's workspace (make test runs it with GOWORK=off), so that its
// tests see mesh with exactly the dependencies a user gets.
package meshuser
