// Command sandbox runs a real Kubernetes control plane on loopback for jitgate's tests and demo:
// etcd, kube-apiserver and kube-controller-manager from the upstream modules, and a node agent
// that stands in for the kubelet by running containers as local processes.
//
//	sandbox up    --dir DIR   start everything, write DIR/admin.kubeconfig, wait until ready
//	sandbox down  --dir DIR   stop everything started by up
//	sandbox seed  --dir DIR   create demo namespaces, Deployments, Pods and a Service
//	sandbox status --dir DIR  print the state file and whether every process is alive
//
// The other subcommands (etcd, kube-apiserver, kube-controller-manager, node-agent,
// container-server) are the components themselves; `up` starts them.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"jitgate.dev/sandbox/internal/cluster"
	"jitgate.dev/sandbox/internal/components"
	"jitgate.dev/sandbox/internal/containerserver"
	"jitgate.dev/sandbox/internal/nodeagent"
	"jitgate.dev/sandbox/internal/seed"
)

const usage = `usage: sandbox <command> [flags]

commands:
  up      --dir DIR [--timeout 3m]   start a sandbox cluster in DIR and wait until it is ready
  down    --dir DIR                  stop the sandbox in DIR
  seed    --dir DIR                  create namespaces payments, checkout, ml-training with workloads
  status  --dir DIR                  show the sandbox state
  kubeconfig --dir DIR --user U [--group G]... --out FILE
                                     write a kubeconfig with a client certificate from the sandbox CA
  version                            print the Kubernetes version built in
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "up":
		err = up(args)
	case "down":
		err = withDir("down", args, func(dir string) error { return cluster.Down(dir, os.Stdout) })
	case "seed":
		err = withDir("seed", args, func(dir string) error { return seed.Run(context.Background(), dir, os.Stdout) })
	case "status":
		err = withDir("status", args, status)
	case "kubeconfig":
		err = kubeconfig(args)
	case "version":
		fmt.Println(kubernetesVersion())
	case "etcd":
		err = etcd(args)
	case "kube-apiserver":
		err = components.RunKubeAPIServer(args)
	case "kube-controller-manager":
		err = components.RunKubeControllerManager(args)
	case "node-agent":
		err = nodeAgent(args)
	case "container-server":
		err = containerserver.Run()
	case "-h", "--help", "help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "sandbox: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "sandbox %s: %v\n", cmd, err)
		os.Exit(1)
	}
}

func withDir(name string, args []string, run func(dir string) error) error {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	dir := fs.String("dir", ".sandbox", "sandbox folder")
	_ = fs.Parse(args)
	return run(*dir)
}

// kubernetesVersion reads the k8s.io/kubernetes version this binary was built with.
func kubernetesVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "k8s.io/kubernetes" {
				return dep.Version
			}
		}
	}
	return "unknown"
}

func up(args []string) error {
	fs := flag.NewFlagSet("up", flag.ExitOnError)
	dir := fs.String("dir", ".sandbox", "sandbox folder")
	timeout := fs.Duration("timeout", 3*time.Minute, "how long to wait for the cluster to be ready")
	var extra multiFlag
	fs.Var(&extra, "apiserver-arg", "extra kube-apiserver flag (repeatable), e.g. --apiserver-arg=--feature-gates=X=false")
	legacy := fs.Bool("legacy-streaming", false, "a cluster whose streams are SPDY only: the apiserver passes WebSocket upgrades through (TranslateStreamCloseWebsocketRequests and PortForwardWebsockets off) and the node agent refuses them")
	_ = fs.Parse(args)
	opts := cluster.Options{
		Dir: *dir, KubernetesVersion: kubernetesVersion(), Timeout: *timeout, ExtraAPIServerArgs: extra, Log: os.Stderr,
	}
	if *legacy {
		opts.ExtraAPIServerArgs = append(opts.ExtraAPIServerArgs, "--feature-gates=TranslateStreamCloseWebsocketRequests=false,PortForwardWebsockets=false")
		opts.ExtraNodeAgentArgs = append(opts.ExtraNodeAgentArgs, "--refuse-websocket")
	}
	st, err := cluster.Up(context.Background(), opts)
	if err != nil {
		return err
	}
	fmt.Printf("sandbox ready in %.1fs: Kubernetes %s at %s\n", float64(st.ReadyAfterMillis)/1000, st.KubernetesVersion, st.APIServerURL)
	fmt.Printf("  export KUBECONFIG=%s\n", st.AdminKubeconfig)
	return nil
}

func status(dir string) error {
	st, err := cluster.ReadState(dir)
	if err != nil {
		return fmt.Errorf("no running sandbox in %s: %w", dir, err)
	}
	out, _ := json.MarshalIndent(st, "", "  ")
	fmt.Println(string(out))
	if !st.Running() {
		return fmt.Errorf("some sandbox processes are not running; see %s/logs", dir)
	}
	fmt.Println("all processes running")
	return nil
}

func etcd(args []string) error {
	fs := flag.NewFlagSet("etcd", flag.ExitOnError)
	var o components.EtcdOptions
	fs.StringVar(&o.DataDir, "data-dir", "", "data folder")
	fs.StringVar(&o.ClientURL, "listen-client-url", "", "client URL")
	fs.StringVar(&o.PeerURL, "listen-peer-url", "", "peer URL")
	_ = fs.Parse(args)
	return components.RunEtcd(o)
}

func nodeAgent(args []string) error {
	fs := flag.NewFlagSet("node-agent", flag.ExitOnError)
	var c nodeagent.Config
	fs.StringVar(&c.NodeName, "node-name", "sandbox-node", "node name")
	fs.StringVar(&c.Kubeconfig, "kubeconfig", "", "kubeconfig with the node identity")
	fs.StringVar(&c.SchedulerKubeconfig, "scheduler-kubeconfig", "", "kubeconfig with the scheduler identity")
	fs.IntVar(&c.Port, "port", 10250, "kubelet API port")
	fs.StringVar(&c.TLSCertFile, "tls-cert-file", "", "serving certificate")
	fs.StringVar(&c.TLSKeyFile, "tls-private-key-file", "", "serving key")
	fs.StringVar(&c.ClientCAFile, "client-ca-file", "", "CA for client certificates")
	fs.StringVar(&c.RootDir, "root-dir", "", "folder for container state and logs")
	fs.BoolVar(&c.RefuseWebSocket, "refuse-websocket", false, "answer WebSocket upgrades of exec, attach and port-forward with 400 (SPDY only)")
	_ = fs.Parse(args)
	c.KubeletVersion = kubernetesVersion()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return nodeagent.Run(ctx, c)
}

func kubeconfig(args []string) error {
	fs := flag.NewFlagSet("kubeconfig", flag.ExitOnError)
	dir := fs.String("dir", ".sandbox", "sandbox folder")
	user := fs.String("user", "", "user name (certificate CN)")
	out := fs.String("out", "", "kubeconfig to write")
	var groups multiFlag
	fs.Var(&groups, "group", "group (certificate O), repeatable")
	_ = fs.Parse(args)
	if *user == "" || *out == "" {
		return fmt.Errorf("--user and --out are required")
	}
	return cluster.IssueKubeconfig(*dir, *user, groups, *out)
}

type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint(*m) }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
