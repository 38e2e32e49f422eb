// Package components runs the real control-plane programs (etcd, kube-apiserver,
// kube-controller-manager) inside the sandbox binary, one per process.
//
// Each component is started by `sandbox up` as a child process of the same executable
// (`sandbox etcd ...`, `sandbox kube-apiserver ...`), so one build links everything once.
package components

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"go.etcd.io/etcd/server/v3/embed"
	apiserverapp "k8s.io/kubernetes/cmd/kube-apiserver/app"
	cmapp "k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

// RunKubeAPIServer runs the upstream kube-apiserver command with the given flags until it exits.
func RunKubeAPIServer(args []string) error {
	cmd := apiserverapp.NewAPIServerCommand()
	cmd.SetArgs(args)
	return cmd.Execute()
}

// RunKubeControllerManager runs the upstream kube-controller-manager command with the given flags.
func RunKubeControllerManager(args []string) error {
	cmd := cmapp.NewControllerManagerCommand()
	cmd.SetArgs(args)
	return cmd.Execute()
}

// EtcdOptions are the few settings the sandbox needs from etcd.
type EtcdOptions struct {
	DataDir   string
	ClientURL string
	PeerURL   string
}

// RunEtcd runs an embedded etcd member until SIGTERM/SIGINT.
func RunEtcd(opts EtcdOptions) error {
	cfg := embed.NewConfig()
	cfg.Name = "sandbox"
	cfg.Dir = opts.DataDir
	client, err := url.Parse(opts.ClientURL)
	if err != nil {
		return fmt.Errorf("etcd client URL %q: %w", opts.ClientURL, err)
	}
	peer, err := url.Parse(opts.PeerURL)
	if err != nil {
		return fmt.Errorf("etcd peer URL %q: %w", opts.PeerURL, err)
	}
	cfg.ListenClientUrls = []url.URL{*client}
	cfg.AdvertiseClientUrls = []url.URL{*client}
	cfg.ListenPeerUrls = []url.URL{*peer}
	cfg.AdvertisePeerUrls = []url.URL{*peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "warn"
	// A sandbox runs on a laptop or CI runner: keep the backend small and the fsync cost low.
	cfg.QuotaBackendBytes = 2 << 30
	cfg.UnsafeNoFsync = true

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return fmt.Errorf("starting etcd: %w", err)
	}
	defer e.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		return fmt.Errorf("etcd failed before ready: %w", err)
	case <-ctx.Done():
		return nil
	}
	select {
	case err := <-e.Err():
		return fmt.Errorf("etcd stopped: %w", err)
	case <-ctx.Done():
		return nil
	}
}
