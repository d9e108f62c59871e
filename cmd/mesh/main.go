// Command mesh is the operator's view of a mesh cluster: it asks the
// admin endpoints of the nodes (Config.AdminAddr) who is in the cluster,
// where processes live, how fast nodes answer through the mesh and whether
// the cluster is healthy.
//
// Usage:
//
//	mesh [--addr HOST:PORT,...] [--token T] [-o table|json] [--timeout D] COMMAND
//
//	mesh peers                        the members, their state and what they offer
//	mesh actors [--capability C]      the activations of every node
//	mesh owner CAP ID                 the node that owns (CAP, ID), its shard, versions and ring members
//	mesh ping [NODE]                  round trip through the mesh to every node, or NODE
//	mesh status                       running, or degraded with the reasons
//	mesh call CAP ID --json '{...}'   call a process (the node needs Config.AdminCalls)
//	mesh watch [--json] [--count N]   membership events as they happen, one line each
//	mesh certs ca --dir DIR           make a development CA for the transport's mutual TLS
//	mesh certs node NAME --dir DIR    make NAME's certificate, signed by it [--ip IP] [--dns NAME]
//
// --addr names one or more admin endpoints (default $MESH_ADMIN, else
// 127.0.0.1:9101, node-1 of scripts/cluster.sh); the first that answers is
// asked, and actors then asks every node that node knows. --token (default
// $MESH_TOKEN) is the bearer token sent to every endpoint, for nodes with
// Config.AdminTokens. Exit codes: 0 success (status: running), 1 failure
// (a token missing or refused included), 2 usage error, 3 degraded status
// or a partial answer (some node did not answer).
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	exitPartial = 3 // degraded status, or some node did not answer
)

// defaultAddr is node-1's admin endpoint in scripts/cluster.sh.
const defaultAddr = "127.0.0.1:9101"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// exitError ends the program with code after printing err, if any.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func usageError(err error) error { return &exitError{code: exitUsage, err: err} }

// tokenEnv names the environment variable that holds the token when
// --token is not given.
const tokenEnv = "MESH_TOKEN"

// options are the flags every command shares.
type options struct {
	addrs   []string
	output  string
	timeout time.Duration
	// token is the bearer token sent to every endpoint; empty for none.
	token  string
	stdout io.Writer
	stderr io.Writer
}

func (o *options) json() bool { return o.output == "json" }

// run runs the CLI with args and returns its exit code.
func run(args []string, stdout, stderr io.Writer) int {
	o := &options{stdout: stdout, stderr: stderr}
	root := newRoot(o)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		// cobra's own errors: unknown command or flag, wrong arguments.
		ee = &exitError{code: exitUsage, err: err}
	}
	if ee.err != nil {
		fmt.Fprintln(stderr, "mesh:", ee.err)
		if ee.code == exitUsage {
			fmt.Fprintln(stderr, "Run 'mesh --help' for usage.")
		}
	}
	return ee.code
}

func newRoot(o *options) *cobra.Command {
	root := &cobra.Command{
		Use:   "mesh",
		Short: "Inspect a mesh cluster through its nodes' admin endpoints",
		Long: `mesh asks the admin endpoints of mesh nodes (Config.AdminAddr) about the cluster.

--addr names one or more admin endpoints; the first that answers is asked.
An endpoint with Config.AdminTokens needs a token: --token, or $MESH_TOKEN.
Exit codes: 0 success (status: running), 1 failure (a token missing or
refused included), 2 usage error, 3 degraded status or a partial answer
(some node did not answer).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if o.output != "table" && o.output != "json" {
				return usageError(fmt.Errorf("-o %q: want table or json", o.output))
			}
			if len(o.addrs) == 0 {
				return usageError(errors.New("--addr: no admin endpoint given"))
			}
			if o.timeout <= 0 {
				return usageError(fmt.Errorf("--timeout %v: want a positive duration", o.timeout))
			}
			// Read here rather than as the flag's default, which --help
			// would print.
			if !cmd.Flags().Changed("token") {
				o.token = os.Getenv(tokenEnv)
			}
			return nil
		},
	}
	def := defaultAddr
	if env := os.Getenv("MESH_ADMIN"); env != "" {
		def = env
	}
	root.PersistentFlags().StringSliceVarP(&o.addrs, "addr", "a", strings.Split(def, ","),
		"admin endpoints (host:port), comma-separated; the first that answers is asked ($MESH_ADMIN)")
	root.PersistentFlags().StringVarP(&o.output, "output", "o", "table", "output format: table or json")
	root.PersistentFlags().DurationVar(&o.timeout, "timeout", 5*time.Second, "bound on each request to a node")
	root.PersistentFlags().StringVar(&o.token, "token", "",
		"bearer token sent to the admin endpoints (default $"+tokenEnv+", which keeps it out of the process list)")
	root.CompletionOptions.HiddenDefaultCmd = true
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })
	root.AddCommand(peersCommand(o), actorsCommand(o), ownerCommand(o), pingCommand(o), statusCommand(o), callCommand(o), watchCommand(o),
		certsCommand(o))
	return root
}

// args checks the number of arguments, as a usage error.
func args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := check(cmd, a); err != nil {
			return usageError(err)
		}
		return nil
	}
}
