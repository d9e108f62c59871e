package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Discovery finds seeds at run time: gossip addresses of nodes to join
// besides Config.Seeds, such as the pods behind a Kubernetes headless
// service. DNS is the implementation mesh uses.
type Discovery interface {
	// Seeds returns gossip addresses (host:port) of nodes to join. No
	// addresses and a nil error mean that the source answered and knows
	// of none (yet). ctx bounds the lookup. A Membership calls it at Join
	// and at every re-join round, from one goroutine at a time.
	Seeds(ctx context.Context) ([]string, error)
}

// MaxDNSSeeds bounds the addresses one DNS lookup yields, and the SRV
// targets it resolves: when more answer, a random subset is used, another
// at every lookup, so that every address is tried in turn.
const MaxDNSSeeds = 32

// targetTimeout bounds the lookup of one SRV target, so that a target
// whose server does not answer, or answers what does not parse (the
// resolver then waits for a valid answer until its timeout), holds up
// the others for one second at most, not for the resolver's timeout.
const targetTimeout = time.Second

// DNS finds seeds in the DNS records of one name, looked up again at
// every call of Seeds. Answers are bounded (MaxDNSSeeds) and checked:
// records with port 0, unspecified, multicast or broadcast addresses and
// targets that do not resolve within a second are skipped. A name that does not exist,
// or has no records of the type asked for, is an answer of no seeds, not
// an error: a Kubernetes headless service has no records until its first
// pod has an address.
//
// Whoever controls the answers chooses the addresses the node dials for
// gossip (at most MaxDNSSeeds of them per lookup, on the ports they name):
// use a resolver you trust, and Config.Keys to keep strangers out of the
// cluster.
type DNS struct {
	// Name is what to look up, in one of two forms:
	//
	//	_gossip._tcp.mesh.default.svc.cluster.local   SRV records: each record's
	//	                                              target, resolved to its
	//	                                              addresses, with the
	//	                                              record's port
	//	mesh.default.svc.cluster.local:7946           A and AAAA records, each
	//	                                              address with port 7946
	//
	// A name without a port is looked up as SRV. A name that does not end
	// with a dot goes through the resolver's search domains.
	Name string
	// Resolver looks Name up. If nil, net.DefaultResolver.
	Resolver *net.Resolver
}

// Validate reports whether d.Name is a DNS name of one of the two forms,
// wrapping ErrInvalidDNSName if not.
func (d *DNS) Validate() error {
	_, _, err := parseDNSName(d.Name)
	return err
}

// parseDNSName splits name into a host and, for the A and AAAA form, a
// port (0 for the SRV form).
func parseDNSName(name string) (string, int, error) {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrInvalidDNSName, name, why) }
	host, port := name, 0
	if h, p, err := net.SplitHostPort(name); err == nil {
		n, perr := strconv.Atoi(p)
		if perr != nil || n < 1 || n > 65535 {
			return "", 0, bad("the port must be in [1, 65535]")
		}
		host, port = h, n
	} else if strings.Contains(name, ":") {
		return "", 0, bad(err.Error())
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return "", 0, bad("an address, not a name: give it as a seed")
	}
	if err := checkDNSName(host); err != "" {
		return "", 0, bad(err)
	}
	return host, port, nil
}

// checkDNSName returns why host is not a DNS name of letters, digits,
// hyphens and underscores (as in SRV names), or "" if it is one.
func checkDNSName(host string) string {
	h := strings.TrimSuffix(host, ".")
	switch {
	case h == "":
		return "empty name"
	case len(h) > 253:
		return "longer than 253 bytes"
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 {
			return "every label must be 1 to 63 bytes"
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "a label must not begin or end with a hyphen"
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Sprintf("byte %q is not a letter, digit, hyphen or underscore", c)
			}
		}
	}
	return ""
}

// Seeds looks d.Name up and returns the gossip addresses it names, at
// most MaxDNSSeeds, without duplicates. It fails with ErrInvalidDNSName
// for a Name that Validate refuses, and otherwise only when the lookup
// itself fails (a timeout, a server failure): the error then wraps the
// resolver's *net.DNSError.
func (d *DNS) Seeds(ctx context.Context) ([]string, error) {
	host, port, err := parseDNSName(d.Name)
	if err != nil {
		return nil, err
	}
	r := d.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	if port != 0 {
		ips, err := r.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, lookupError(d.Name, err)
		}
		return bound(withPort(nil, ips, port)), nil
	}
	_, srvs, err := r.LookupSRV(ctx, "", "", host)
	if err != nil && len(srvs) == 0 {
		// With some records left, err only says that others had names
		// that are not valid: those were dropped.
		return nil, lookupError(d.Name, err)
	}
	srvs = slices.DeleteFunc(srvs, func(s *net.SRV) bool { return s.Port == 0 || s.Target == "." || s.Target == "" })
	// LookupSRV orders the records by priority and, within one, at random
	// by weight: the bound keeps the first.
	srvs = srvs[:min(len(srvs), MaxDNSSeeds)]
	found := make([][]netip.Addr, len(srvs))
	errs := make([]error, len(srvs))
	var wg sync.WaitGroup
	for i, s := range srvs {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, targetTimeout)
			defer cancel()
			found[i], errs[i] = r.LookupNetIP(ctx, "ip", s.Target)
		})
	}
	wg.Wait()
	var seeds []string
	for i, s := range srvs {
		seeds = withPort(seeds, found[i], int(s.Port))
	}
	if len(seeds) == 0 {
		// Targets that do not exist are not a failure; a lookup that
		// failed may have hidden live nodes.
		for _, e := range errs {
			if e != nil && !notFound(e) {
				return nil, lookupError(d.Name, e)
			}
		}
	}
	return bound(seeds), nil
}

// withPort appends to seeds host:port for every usable address of ips
// that is not there yet.
func withPort(seeds []string, ips []netip.Addr, port int) []string {
	for _, ip := range ips {
		ip = ip.Unmap()
		if !ip.IsValid() || ip.IsUnspecified() || ip.IsMulticast() || ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
			continue
		}
		seeds = append(seeds, netip.AddrPortFrom(ip, uint16(port)).String())
	}
	slices.Sort(seeds)
	return slices.Compact(seeds)
}

// bound keeps at most MaxDNSSeeds of seeds, picked at random.
func bound(seeds []string) []string {
	if len(seeds) <= MaxDNSSeeds {
		return seeds
	}
	rand.Shuffle(len(seeds), func(i, j int) { seeds[i], seeds[j] = seeds[j], seeds[i] })
	return seeds[:MaxDNSSeeds]
}

func notFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// lookupError is nil for an answer that the name has no records, and err
// with the name otherwise.
func lookupError(name string, err error) error {
	if notFound(err) {
		return nil
	}
	return fmt.Errorf("cluster: look up seeds %s: %w", name, err)
}

// discoveryRetry is the first wait between lookups of Config.Discovery
// while no answer has listed this node; it doubles up to
// discoveryRetryMax (or RejoinInterval, if shorter). A Kubernetes pod
// starts before its own DNS record exists, and is not ready until an
// answer lists it: a pod whose record comes late waits at most 5 s more
// for it, not RejoinInterval (30 s in the LAN profile); a node that no
// answer lists (a client outside the service) asks every 5 s.
const (
	discoveryRetry    = 500 * time.Millisecond
	discoveryRetryMax = 5 * time.Second
)

// lookupTimeout bounds one lookup of Config.Discovery.
const lookupTimeout = 5 * time.Second

// Discovered is what Config.Discovery answered a Membership.
type Discovered struct {
	// At is when the last lookup ended; zero before the first.
	At time.Time
	// Err is why the last lookup failed; nil if it answered.
	Err error
	// Seeds are the addresses the last answer listed, this node's own
	// excluded; at most MaxDNSSeeds.
	Seeds []string
	// Answered reports whether any lookup has answered, and Self whether
	// any answer listed this node's own gossip address (LocalAddr): the
	// source knows of the node, so its answers are at least as new as the
	// node.
	Answered, Self bool
}

// Discovered returns what Config.Discovery answered; the zero Discovered
// without one.
func (m *Membership) Discovered() Discovered {
	m.discMu.Lock()
	defer m.discMu.Unlock()
	d := m.disc
	d.Seeds = slices.Clone(d.Seeds)
	return d
}

// discover asks Config.Discovery for seeds, bounded by ctx and
// lookupTimeout, records the answer and returns the addresses found, this
// node's own excluded; none if the lookup failed.
func (m *Membership) discover(ctx context.Context) []string {
	if m.cfg.Discovery == nil {
		return nil
	}
	lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	found, err := m.cfg.Discovery.Seeds(lctx)
	cancel()
	self := m.LocalAddr()
	var others []string
	listed := false
	for _, s := range found {
		if s == self {
			listed = true
		} else if !slices.Contains(others, s) {
			others = append(others, s)
		}
	}
	others = bound(others)
	now := time.Now()
	m.discMu.Lock()
	defer m.discMu.Unlock()
	failing := m.disc.Err != nil
	m.disc.At, m.disc.Err = now, err
	if err != nil {
		if ctx.Err() == nil && now.Sub(m.warnedAt) >= m.cfg.RejoinInterval {
			m.warnedAt = now
			m.logger.Warn("seeds lookup failed; it is retried at every re-join round", "err", err, "every", m.cfg.RejoinInterval)
		}
		return nil
	}
	if failing {
		m.logger.Info("seeds lookup answers again", "seeds", len(others))
	}
	m.disc.Answered, m.disc.Seeds = true, others
	if listed && !m.disc.Self {
		m.disc.Self = true
		m.logger.Debug("seeds lookup lists this node", "addr", self, "others", others)
	}
	return others
}
