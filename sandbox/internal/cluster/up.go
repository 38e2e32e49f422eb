// Package cluster starts and stops a sandbox control plane: etcd, kube-apiserver,
// kube-controller-manager and the node agent, each a child process of the sandbox binary,
// all on loopback with random free ports.
package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"jitgate.dev/sandbox/internal/pki"
)

// NodeName is the name of the sandbox's only node.
const NodeName = "sandbox-node"

// ServiceCIDR is the ClusterIP range; nothing routes it, Services only need valid addresses.
const ServiceCIDR = "10.96.0.0/16"

// Options for Up.
type Options struct {
	Dir               string
	KubernetesVersion string
	Timeout           time.Duration
	// ExtraAPIServerArgs are appended to the kube-apiserver flags (e.g. feature gates for a test).
	ExtraAPIServerArgs []string
	// ExtraNodeAgentArgs are appended to the node agent's flags.
	ExtraNodeAgentArgs []string
	Log                io.Writer
}

// Up starts a fresh sandbox in opts.Dir and returns when /readyz is ok, the node is Ready and the
// default ServiceAccount exists. A sandbox already running in Dir is left alone and returned.
func Up(ctx context.Context, opts Options) (*State, error) {
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	if old, err := ReadState(dir); err == nil && old.Running() {
		fmt.Fprintf(opts.Log, "sandbox already running in %s (apiserver %s)\n", dir, old.APIServerURL)
		return old, nil
	} else if err == nil {
		// A previous sandbox died or was half started: clear what is left before starting anew.
		_ = Down(dir, opts.Log)
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	for _, sub := range []string{"pki", "etcd", "pods", "logs"} {
		_ = os.RemoveAll(filepath.Join(dir, sub))
	}
	for _, sub := range []string{"pki", "etcd", "pods", "logs"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, err
		}
	}
	ports, err := freePorts(4)
	if err != nil {
		return nil, fmt.Errorf("finding free loopback ports: %w", err)
	}
	etcdClient, etcdPeer, apiPort, kubeletPort := ports[0], ports[1], ports[2], ports[3]
	st := &State{
		Dir:               dir,
		APIServerURL:      fmt.Sprintf("https://127.0.0.1:%d", apiPort),
		EtcdURL:           fmt.Sprintf("http://127.0.0.1:%d", etcdClient),
		KubeletPort:       kubeletPort,
		NodeName:          NodeName,
		AdminKubeconfig:   filepath.Join(dir, "admin.kubeconfig"),
		CACert:            filepath.Join(dir, "ca.crt"),
		KubernetesVersion: opts.KubernetesVersion,
		StartedAt:         start.UTC(),
	}
	files, err := writeCredentials(dir, st)
	if err != nil {
		return nil, fmt.Errorf("writing certificates and kubeconfigs: %w", err)
	}

	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	launch := func(name string, args ...string) error {
		p, err := spawn(self, dir, name, args)
		if err != nil {
			return err
		}
		st.Processes = append(st.Processes, p)
		return st.write()
	}
	fail := func(err error) (*State, error) {
		for i := len(st.Processes) - 1; i >= 0; i-- {
			fmt.Fprintf(opts.Log, "--- last lines of %s ---\n%s\n", st.Processes[i].Log, tail(st.Processes[i].Log, 30))
		}
		_ = Down(dir, io.Discard)
		return nil, err
	}

	if err := launch("etcd",
		"--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-url", st.EtcdURL,
		"--listen-peer-url", fmt.Sprintf("http://127.0.0.1:%d", etcdPeer),
	); err != nil {
		return fail(err)
	}
	if err := waitFor(ctx, "etcd /health", st.Processes, func() error { return httpOK(nil, st.EtcdURL+"/health") }); err != nil {
		return fail(err)
	}

	apiArgs := []string{
		"--etcd-servers", st.EtcdURL,
		"--bind-address", "127.0.0.1",
		"--advertise-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(apiPort),
		"--tls-cert-file", files["apiserver.crt"],
		"--tls-private-key-file", files["apiserver.key"],
		"--client-ca-file", files["ca.crt"],
		"--kubelet-client-certificate", files["apiserver-kubelet-client.crt"],
		"--kubelet-client-key", files["apiserver-kubelet-client.key"],
		"--kubelet-certificate-authority", files["ca.crt"],
		"--kubelet-preferred-address-types", "InternalIP",
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", files["sa.pub"],
		"--service-account-signing-key-file", files["sa.key"],
		"--service-cluster-ip-range", ServiceCIDR,
		"--authorization-mode", "Node,RBAC",
		"--enable-admission-plugins", "NodeRestriction",
		"--allow-privileged=true",
		// The only apiserver endpoint is loopback, which Endpoints validation rejects.
		"--endpoint-reconciler-type", "none",
		"--audit-log-path", filepath.Join(dir, "logs", "apiserver-audit.log"),
		"--audit-policy-file", files["audit-policy.yaml"],
		"--audit-log-maxsize", "100",
		"--profiling=false",
		"--v", "1",
	}
	apiArgs = append(apiArgs, opts.ExtraAPIServerArgs...)
	if err := launch("kube-apiserver", apiArgs...); err != nil {
		return fail(err)
	}
	adminTLS, err := clientTLS(files["ca.crt"], files["admin.crt"], files["admin.key"])
	if err != nil {
		return fail(err)
	}
	if err := waitFor(ctx, "kube-apiserver /readyz", st.Processes, func() error { return httpOK(adminTLS, st.APIServerURL+"/readyz") }); err != nil {
		return fail(err)
	}

	if err := launch("kube-controller-manager",
		"--kubeconfig", files["controller-manager.kubeconfig"],
		"--authentication-kubeconfig", files["controller-manager.kubeconfig"],
		"--authorization-kubeconfig", files["controller-manager.kubeconfig"],
		"--service-account-private-key-file", files["sa.key"],
		"--root-ca-file", files["ca.crt"],
		"--cluster-signing-cert-file", files["ca.crt"],
		"--cluster-signing-key-file", files["ca.key"],
		"--use-service-account-credentials=true",
		"--leader-elect=false",
		"--bind-address", "127.0.0.1",
		"--secure-port", "0",
		// Workload, namespace, ServiceAccount, RBAC-aggregation and Service-endpoint controllers;
		// no cloud, no IPAM, no volumes, and no node lifecycle (the one node is never evicted).
		"--controllers", strings.Join([]string{
			"deployment-controller", "replicaset-controller", "replicationcontroller-controller",
			"statefulset-controller", "daemonset-controller", "job-controller", "cronjob-controller",
			"ttl-after-finished-controller", "disruption-controller", "garbage-collector-controller",
			"pod-garbage-collector-controller", "namespace-controller", "resourcequota-controller",
			"serviceaccount-controller", "serviceaccount-token-controller", "root-ca-certificate-publisher-controller",
			"clusterrole-aggregation-controller", "endpointslice-controller", "endpoints-controller",
			"certificatesigningrequest-signing-controller", "certificatesigningrequest-approving-controller",
			"certificatesigningrequest-cleaner-controller",
		}, ","),
		"--v", "1",
	); err != nil {
		return fail(err)
	}
	nodeArgs := append([]string{
		"--node-name", NodeName,
		"--kubeconfig", files["node.kubeconfig"],
		"--scheduler-kubeconfig", files["scheduler.kubeconfig"],
		"--port", strconv.Itoa(kubeletPort),
		"--tls-cert-file", files["kubelet.crt"],
		"--tls-private-key-file", files["kubelet.key"],
		"--client-ca-file", files["ca.crt"],
		"--root-dir", filepath.Join(dir, "pods"),
	}, opts.ExtraNodeAgentArgs...)
	if err := launch("node-agent", nodeArgs...); err != nil {
		return fail(err)
	}

	cfg, err := clientcmd.BuildConfigFromFlags("", st.AdminKubeconfig)
	if err != nil {
		return fail(err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fail(err)
	}
	if err := waitFor(ctx, "node "+NodeName+" Ready", st.Processes, func() error {
		node, err := client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return errors.New("node not Ready yet")
	}); err != nil {
		return fail(err)
	}
	if err := waitFor(ctx, "ServiceAccount default/default", st.Processes, func() error {
		_, err := client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return errors.New("not created yet")
		}
		return err
	}); err != nil {
		return fail(err)
	}
	st.ReadyAfterMillis = time.Since(start).Milliseconds()
	if err := st.write(); err != nil {
		return fail(err)
	}
	return st, nil
}

// spawn starts `self name args...` in its own session so it outlives `sandbox up`.
func spawn(self, dir, name string, args []string) (Process, error) {
	logPath := filepath.Join(dir, "logs", name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return Process{}, err
	}
	defer logFile.Close()
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		return Process{}, err
	}
	defer devNull.Close()
	cmd := exec.Command(self, append([]string{name}, args...)...)
	cmd.Stdin = devNull
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return Process{}, fmt.Errorf("starting %s: %w", name, err)
	}
	p := Process{Name: name, PID: cmd.Process.Pid, Log: logPath}
	// Reap it if it dies while we are still around, and remember that it did: right after
	// fork, /proc/PID/cmdline still shows this process's own command line, so alive() cannot
	// be trusted for a child that may not have exec'd yet.
	exited := make(chan struct{})
	spawned.Store(p.PID, exited)
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	return p, nil
}

// spawned maps the PID of every child this process started to a channel closed when it exits.
var spawned sync.Map

// running reports whether p is still running: from the reaper for children of this process,
// from /proc otherwise.
func running(p Process) bool {
	if ch, ok := spawned.Load(p.PID); ok {
		select {
		case <-ch.(chan struct{}):
			return false
		default:
			return true
		}
	}
	return alive(p)
}

func waitFor(ctx context.Context, what string, procs []Process, check func() error) error {
	var last error
	for {
		for _, p := range procs {
			if !running(p) {
				return fmt.Errorf("%s exited while waiting for %s (see %s)", p.Name, what, p.Log)
			}
		}
		if last = check(); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out waiting for %s: %v", what, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func httpOK(tlsConfig *tls.Config, url string) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", url, resp.Status, bytes.TrimSpace(body))
	}
	return nil
}

func clientTLS(caPath, certPath, keyPath string) (*tls.Config, error) {
	caPEM, err := os.ReadFile(caPath)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}, nil
}

func freePorts(n int) ([]int, error) {
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func tail(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// writeCredentials makes the CA, every certificate, the ServiceAccount key, the audit policy and
// the kubeconfigs; it returns their paths by file name.
func writeCredentials(dir string, st *State) (map[string]string, error) {
	pkiDir := filepath.Join(dir, "pki")
	files := map[string]string{}
	ca, err := pki.NewCA("jitgate-sandbox-ca")
	if err != nil {
		return nil, err
	}
	if err := ca.WriteCA(pkiDir); err != nil {
		return nil, err
	}
	files["ca.crt"] = filepath.Join(pkiDir, "ca.crt")
	files["ca.key"] = filepath.Join(pkiDir, "ca.key")
	if err := os.WriteFile(st.CACert, ca.PEM, 0o644); err != nil {
		return nil, err
	}
	loopback := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}
	leaves := []struct {
		name string
		spec pki.LeafSpec
	}{
		{"apiserver", pki.LeafSpec{CommonName: "kube-apiserver", Server: true, IPs: append(loopback, net.ParseIP("10.96.0.1")),
			DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}}},
		{"apiserver-kubelet-client", pki.LeafSpec{CommonName: "kube-apiserver-kubelet-client", Organizations: []string{"system:masters"}, Client: true}},
		{"admin", pki.LeafSpec{CommonName: "sandbox-admin", Organizations: []string{"system:masters"}, Client: true}},
		{"controller-manager", pki.LeafSpec{CommonName: "system:kube-controller-manager", Client: true}},
		{"scheduler", pki.LeafSpec{CommonName: "system:kube-scheduler", Client: true}},
		{"node", pki.LeafSpec{CommonName: "system:node:" + NodeName, Organizations: []string{"system:nodes"}, Client: true}},
		{"kubelet", pki.LeafSpec{CommonName: NodeName, Server: true, IPs: loopback, DNSNames: []string{"localhost", NodeName}}},
	}
	for _, l := range leaves {
		leaf, err := ca.Issue(l.spec)
		if err != nil {
			return nil, fmt.Errorf("issuing %s certificate: %w", l.name, err)
		}
		c, k, err := leaf.WriteFiles(pkiDir, l.name)
		if err != nil {
			return nil, err
		}
		files[l.name+".crt"], files[l.name+".key"] = c, k
	}
	if files["sa.key"], files["sa.pub"], err = pki.WriteServiceAccountKey(pkiDir); err != nil {
		return nil, err
	}
	files["audit-policy.yaml"] = filepath.Join(pkiDir, "audit-policy.yaml")
	if err := os.WriteFile(files["audit-policy.yaml"], []byte(auditPolicy), 0o644); err != nil {
		return nil, err
	}
	kubeconfigs := []struct{ name, user, out string }{
		{"admin", "sandbox-admin", st.AdminKubeconfig},
		{"controller-manager", "system:kube-controller-manager", filepath.Join(pkiDir, "controller-manager.kubeconfig")},
		{"scheduler", "system:kube-scheduler", filepath.Join(pkiDir, "scheduler.kubeconfig")},
		{"node", "system:node:" + NodeName, filepath.Join(pkiDir, "node.kubeconfig")},
	}
	for _, kc := range kubeconfigs {
		if err := writeKubeconfig(kc.out, st.APIServerURL, ca.PEM, kc.user, files[kc.name+".crt"], files[kc.name+".key"]); err != nil {
			return nil, err
		}
		files[kc.name+".kubeconfig"] = kc.out
	}
	return files, nil
}

// writeKubeconfig writes a self-contained kubeconfig (certificates embedded, mode 0600).
func writeKubeconfig(path, server string, caPEM []byte, user, certPath, keyPath string) error {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["sandbox"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	cfg.Contexts["sandbox"] = &clientcmdapi.Context{Cluster: "sandbox", AuthInfo: user, Namespace: "default"}
	cfg.CurrentContext = "sandbox"
	return clientcmd.WriteToFile(*cfg, path)
}

// auditPolicy records who did what (Metadata level) so tests can check which user and groups the
// apiserver saw; reads of high-volume internals are left out to keep the log small.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  users: ["system:kube-controller-manager", "system:kube-scheduler", "system:apiserver"]
- level: None
  userGroups: ["system:nodes"]
- level: None
  resources:
  - group: coordination.k8s.io
    resources: ["leases"]
- level: Metadata
`
