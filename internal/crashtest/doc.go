// Package crashtest is what the durability tests of mesh and of its
// stores share: a counter capability that saves on change, a load that
// checks every acknowledged increment survives, and node processes that
// a test kills with SIGKILL. It is test support, imported by test files
// only; like meshtest it uses the root package as an application does.
package crashtest
