package kubernetes

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	v1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// manifests are the documents of the directory's YAML files, decoded
// strictly into their types.
type manifests struct {
	statefulSets []*appsv1.StatefulSet
	services     []*corev1.Service
	budgets      []*policyv1.PodDisruptionBudget
}

// load decodes every document of every *.yaml file in dir, failing on an
// unknown kind or field.
func load(t *testing.T, dir string) manifests {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s: %v", dir, err)
	}
	var m manifests
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := split(b)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for i, doc := range docs {
			if err := m.add(doc); err != nil {
				t.Errorf("%s, document %d: %v", filepath.Base(file), i+1, err)
			}
		}
	}
	return m
}

// split returns the non-empty YAML documents of b.
func split(b []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(stripComments(doc))) > 0 {
			docs = append(docs, doc)
		}
	}
}

func stripComments(doc []byte) []byte {
	var out []byte
	for line := range bytes.Lines(doc) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line...)
		}
	}
	return out
}

// add decodes doc strictly into the type its apiVersion and kind name.
func (m *manifests) add(doc []byte) error {
	var tm v1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return err
	}
	var obj any
	switch gvk := tm.APIVersion + " " + tm.Kind; gvk {
	case "apps/v1 StatefulSet":
		s := &appsv1.StatefulSet{}
		m.statefulSets, obj = append(m.statefulSets, s), s
	case "v1 Service":
		s := &corev1.Service{}
		m.services, obj = append(m.services, s), s
	case "policy/v1 PodDisruptionBudget":
		p := &policyv1.PodDisruptionBudget{}
		m.budgets, obj = append(m.budgets, p), p
	default:
		return fmt.Errorf("unexpected kind %q", gvk)
	}
	// As the API server decodes: field names match case-sensitively (the
	// standard library's json would take clusterIp for clusterIP), and an
	// unknown or duplicate field is an error.
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(j, obj)
	return errors.Join(append(strict, err)...)
}

// TestStrictDecodingCatchesTypos: the decoding refuses a misspelt field,
// so the test over the real manifests means something.
func TestStrictDecodingCatchesTypos(t *testing.T) {
	var m manifests
	good := "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  clusterIP: None\n"
	if err := m.add([]byte(good)); err != nil {
		t.Fatalf("a valid Service: %v", err)
	}
	for _, bad := range []string{
		strings.Replace(good, "clusterIP", "clusterIp", 1),
		good + "  publishNotReadyAddress: true\n",
		good + "  clusterIP: None\n", // a duplicate field
		strings.Replace(good, "kind: Service", "kind: Servce", 1),
		"apiVersion: apps/v1\nkind: StatefulSet\nspec:\n  replicas: three\n",
	} {
		if err := m.add([]byte(bad)); err == nil {
			t.Errorf("accepted:\n%s", bad)
		}
	}
}

// problems collects what check finds wrong.
type problems []string

func (p *problems) errorf(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// flags returns the -name=value arguments of c by name.
func flags(p *problems, c corev1.Container) map[string]string {
	out := map[string]string{}
	for _, a := range c.Args {
		if !strings.HasPrefix(a, "-") {
			p.errorf("argument %q is not a flag", a)
		}
		name, value, ok := strings.Cut(strings.TrimPrefix(a, "-"), "=")
		if !ok {
			value = "true"
		}
		out[name] = value
	}
	return out
}

// port returns the port of host:port, or 0.
func port(p *problems, hostPort string) int32 {
	i := strings.LastIndex(hostPort, ":")
	n, err := strconv.Atoi(hostPort[i+1:])
	if i < 0 || err != nil || n < 1 || n > 65535 {
		p.errorf("%q has no port", hostPort)
		return 0
	}
	return int32(n)
}

// containerPort resolves a probe's or service's target port against c.
func containerPort(c corev1.Container, p intstr.IntOrString, proto corev1.Protocol) (corev1.ContainerPort, bool) {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal || p.Type == intstr.Int && cp.ContainerPort == p.IntVal) && protoOf(cp.Protocol) == protoOf(proto) {
			return cp, true
		}
	}
	return corev1.ContainerPort{}, false
}

func protoOf(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// check returns what is wrong with m for a mesh cluster on Kubernetes.
func check(m manifests) problems {
	var p problems
	if len(m.statefulSets) != 1 || len(m.budgets) != 1 || len(m.services) != 2 {
		p.errorf("%d StatefulSets, %d PodDisruptionBudgets, %d Services; want 1, 1, 2", len(m.statefulSets), len(m.budgets), len(m.services))
		return p
	}
	sts := m.statefulSets[0]
	pod := sts.Spec.Template
	podLabels := labels.Set(pod.Labels)
	sel, err := v1.LabelSelectorAsSelector(sts.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(podLabels) {
		p.errorf("the StatefulSet's selector %v does not select its pods' labels %v (%v)", sts.Spec.Selector, pod.Labels, err)
	}
	if r := sts.Spec.Replicas; r == nil || *r < 3 {
		p.errorf("%v replicas: a majority needs three nodes or more to survive one loss", r)
	}
	if len(pod.Spec.Containers) != 1 {
		p.errorf("%d containers, want 1", len(pod.Spec.Containers))
		return p
	}
	c := pod.Spec.Containers[0]
	f := flags(&p, c)
	for _, name := range []string{"node", "gossip", "gossip-advertise", "remote", "remote-advertise", "admin", "seeds-dns", "close-timeout"} {
		if f[name] == "" {
			p.errorf("no -%s flag", name)
		}
	}

	// Every $(VAR) of the arguments is defined.
	env := map[string]bool{}
	for _, e := range c.Env {
		env[e.Name] = true
	}
	for _, a := range c.Args {
		for _, ref := range envRef.FindAllStringSubmatch(a, -1) {
			if !env[ref[1]] {
				p.errorf("argument %q refers to $(%s), which the container does not define", a, ref[1])
			}
		}
	}
	gossipPort := port(&p, f["gossip"])
	if f["node"] != "$(POD_NAME)" || f["gossip-advertise"] != "$(POD_IP):"+strconv.Itoa(int(gossipPort)) || f["remote-advertise"] != "$(POD_IP)" {
		p.errorf("the node must be named after its pod and advertise the pod's IP with the gossip port it binds: %v", f)
	}

	// The headless service: every pod in DNS before it is ready, named as
	// -seeds-dns looks it up, with the gossip port over TCP and UDP.
	var headless, client *corev1.Service
	for _, s := range m.services {
		if s.Spec.ClusterIP == corev1.ClusterIPNone {
			headless = s
		} else {
			client = s
		}
	}
	if headless == nil || client == nil {
		p.errorf("want one headless service and one with a cluster IP")
		return p
	}
	if sts.Spec.ServiceName != headless.Name {
		p.errorf("the StatefulSet's serviceName %q is not the headless service %q", sts.Spec.ServiceName, headless.Name)
	}
	if !headless.Spec.PublishNotReadyAddresses {
		p.errorf("the headless service must publish not-ready addresses: nodes find each other before they are ready")
	}
	for _, s := range m.services {
		if len(s.Spec.Selector) == 0 || !labels.SelectorFromSet(s.Spec.Selector).Matches(podLabels) {
			p.errorf("service %s selects %v, not the pods' labels %v", s.Name, s.Spec.Selector, pod.Labels)
		}
		for _, sp := range s.Spec.Ports {
			if _, ok := containerPort(c, sp.TargetPort, sp.Protocol); !ok {
				p.errorf("service %s port %s targets %s/%s, which the container does not have", s.Name, sp.Name, sp.TargetPort.String(), protoOf(sp.Protocol))
			}
		}
	}
	for _, proto := range []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP} {
		if _, ok := containerPort(c, intstr.FromInt32(gossipPort), proto); !ok {
			p.errorf("the container does not expose the gossip port %d over %s", gossipPort, proto)
		}
	}
	srv, ok := strings.CutPrefix(f["seeds-dns"], "_")
	portName, rest, _ := strings.Cut(srv, "._")
	proto, host, _ := strings.Cut(rest, ".")
	if want := headless.Name + ".$(POD_NAMESPACE).svc.cluster.local"; !ok || host != want {
		p.errorf("-seeds-dns %q does not look up the SRV records of %q", f["seeds-dns"], want)
	}
	found := false
	for _, sp := range headless.Spec.Ports {
		if sp.Name == portName && strings.EqualFold(string(protoOf(sp.Protocol)), proto) && sp.Port == gossipPort {
			found = true
		}
	}
	if !found {
		p.errorf("the headless service has no port %q over %s on %d: the SRV records -seeds-dns asks for would not exist", portName, proto, gossipPort)
	}

	// The probes ask the admin endpoint the node serves.
	adminPort := port(&p, f["admin"])
	for _, probe := range []struct {
		name, path string
		probe      *corev1.Probe
	}{{"readiness", "/readyz", c.ReadinessProbe}, {"liveness", "/healthz", c.LivenessProbe}} {
		if probe.probe == nil || probe.probe.HTTPGet == nil {
			p.errorf("no HTTP %s probe", probe.name)
			continue
		}
		get := probe.probe.HTTPGet
		cp, ok := containerPort(c, get.Port, corev1.ProtocolTCP)
		if get.Path != probe.path || !ok || cp.ContainerPort != adminPort {
			p.errorf("the %s probe asks %s on %s, want %s on the admin port %d", probe.name, get.Path, get.Port.String(), probe.path, adminPort)
		}
		// Ready pings the members for up to a second.
		if probe.probe.TimeoutSeconds < 2 {
			p.errorf("the %s probe times out after %d s, less than the 2 s a check may take", probe.name, probe.probe.TimeoutSeconds)
		}
	}

	// The drain ends before the kill.
	closeTimeout, err := time.ParseDuration(f["close-timeout"])
	grace := pod.Spec.TerminationGracePeriodSeconds
	if err != nil || grace == nil || time.Duration(*grace)*time.Second < closeTimeout+2*time.Second {
		p.errorf("terminationGracePeriodSeconds %v must exceed -close-timeout %q by 2 s or more (%v)", grace, f["close-timeout"], err)
	}

	// The budget covers the StatefulSet's pods and lets one go at a time.
	pdb := m.budgets[0]
	psel, err := v1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil || psel.Empty() || !psel.Matches(podLabels) {
		p.errorf("the PodDisruptionBudget selects %v, not the pods' labels %v (%v)", pdb.Spec.Selector, pod.Labels, err)
	}
	if mu := pdb.Spec.MaxUnavailable; mu == nil || mu.Type != intstr.Int || mu.IntVal != 1 {
		p.errorf("the PodDisruptionBudget's maxUnavailable is %v, want 1", mu)
	}
	return p
}

// TestManifests checks the manifests of this directory.
func TestManifests(t *testing.T) {
	for _, problem := range check(load(t, ".")) {
		t.Error(problem)
	}
}

// TestCheckCatchesMistakes: each mistake, made on the real manifests, is
// found.
func TestCheckCatchesMistakes(t *testing.T) {
	container := func(m manifests) *corev1.Container { return &m.statefulSets[0].Spec.Template.Spec.Containers[0] }
	setArg := func(m manifests, name, value string) {
		c := container(m)
		for i, a := range c.Args {
			if strings.HasPrefix(a, "-"+name+"=") {
				c.Args[i] = "-" + name + "=" + value
			}
		}
	}
	headless := func(m manifests) *corev1.Service {
		for _, s := range m.services {
			if s.Spec.ClusterIP == corev1.ClusterIPNone {
				return s
			}
		}
		return nil
	}
	for name, mistake := range map[string]func(manifests){
		"not-ready pods unlisted": func(m manifests) { headless(m).Spec.PublishNotReadyAddresses = false },
		"another service name":    func(m manifests) { m.statefulSets[0].Spec.ServiceName = "other" },
		"seeds of another name":   func(m manifests) { setArg(m, "seeds-dns", "_gossip._tcp.other.$(POD_NAMESPACE).svc.cluster.local") },
		"seeds of another port": func(m manifests) {
			setArg(m, "seeds-dns", "_peer._tcp.mesh-chat-gossip.$(POD_NAMESPACE).svc.cluster.local")
		},
		"readiness on healthz":  func(m manifests) { container(m).ReadinessProbe.HTTPGet.Path = "/healthz" },
		"liveness elsewhere":    func(m manifests) { container(m).LivenessProbe.HTTPGet.Port = intstr.FromString("remote") },
		"admin moved":           func(m manifests) { setArg(m, "admin", "0.0.0.0:9200") },
		"grace too short":       func(m manifests) { setArg(m, "close-timeout", "29s") },
		"close timeout garbled": func(m manifests) { setArg(m, "close-timeout", "soon") },
		"budget selects nothing": func(m manifests) {
			m.budgets[0].Spec.Selector = &v1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}
		},
		"service selects nothing": func(m manifests) { headless(m).Spec.Selector = map[string]string{"app": "x"} },
		"undefined variable":      func(m manifests) { setArg(m, "node", "$(HOSTNAME)") },
		"advertises a wrong port": func(m manifests) { setArg(m, "gossip-advertise", "$(POD_IP):7000") },
		"no UDP gossip": func(m manifests) {
			c := container(m)
			c.Ports = slices.DeleteFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Protocol == corev1.ProtocolUDP })
		},
	} {
		t.Run(name, func(t *testing.T) {
			m := load(t, ".")
			mistake(m)
			if p := check(m); len(p) == 0 {
				t.Error("not found")
			}
		})
	}
}
