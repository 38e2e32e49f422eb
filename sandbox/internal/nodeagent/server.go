package nodeagent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
)

const (
	streamIdleTimeout     = 4 * time.Hour
	streamCreationTimeout = remotecommand.DefaultStreamCreationTimeout
)

// serve starts the kubelet API on 127.0.0.1:Port over TLS; clients must present a certificate
// from the cluster CA (the apiserver's kubelet-client certificate).
func (a *Agent) serve(ctx context.Context) (*http.Server, error) {
	caPEM, err := os.ReadFile(a.cfg.ClientCAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("no certificate in %s", a.cfg.ClientCAFile)
	}
	cert, err := tls.LoadX509KeyPair(a.cfg.TLSCertFile, a.cfg.TLSKeyFile)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("/exec/", a.spdyOnly(a.serveExec))
	mux.HandleFunc("/attach/", a.spdyOnly(a.serveAttach))
	mux.HandleFunc("/portForward/", a.spdyOnly(a.servePortForward))
	mux.HandleFunc("/containerLogs/", a.serveLogs)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			ClientCAs:    pool,
			ClientAuth:   tls.RequireAndVerifyClientCert,
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"http/1.1"},
		},
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(a.cfg.Port)))
	if err != nil {
		return nil, fmt.Errorf("kubelet port: %w", err)
	}
	go func() {
		if err := srv.ServeTLS(ln, "", ""); err != nil && err != http.ErrServerClosed {
			a.logf("kubelet API server: %v", err)
		}
	}()
	return srv, nil
}

// spdyOnly refuses WebSocket upgrades with 400 when the agent runs with RefuseWebSocket.
func (a *Agent) spdyOnly(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.cfg.RefuseWebSocket && strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "this node agent speaks SPDY only (started with --refuse-websocket)", http.StatusBadRequest)
			return
		}
		next(w, r)
	}
}

// target is what a kubelet URL names: /VERB/NAMESPACE/POD[/UID]/CONTAINER.
type target struct {
	namespace, pod, uid, container string
}

func parseTarget(path, verb string, withContainer bool) (target, error) {
	parts := strings.Split(strings.Trim(strings.TrimPrefix(path, "/"+verb+"/"), "/"), "/")
	switch {
	case withContainer && len(parts) == 3:
		return target{namespace: parts[0], pod: parts[1], container: parts[2]}, nil
	case withContainer && len(parts) == 4:
		return target{namespace: parts[0], pod: parts[1], uid: parts[2], container: parts[3]}, nil
	case !withContainer && len(parts) == 2:
		return target{namespace: parts[0], pod: parts[1]}, nil
	case !withContainer && len(parts) == 3:
		return target{namespace: parts[0], pod: parts[1], uid: parts[2]}, nil
	}
	return target{}, fmt.Errorf("malformed %s path %q", verb, path)
}

func (a *Agent) lookup(w http.ResponseWriter, r *http.Request, verb string, withContainer bool) (*pod, *container, bool) {
	t, err := parseTarget(r.URL.Path, verb, withContainer)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return nil, nil, false
	}
	p, err := a.findPod(t.namespace, t.pod, t.uid)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return nil, nil, false
	}
	if !withContainer {
		return p, nil, true
	}
	c, err := p.container(t.container)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return nil, nil, false
	}
	return p, c, true
}

// streamRuntime adapts one pod/container to cri-streaming's Executor, Attacher and PortForwarder.
type streamRuntime struct {
	pod       *pod
	container *container
}

func (s streamRuntime) ExecInContainer(ctx context.Context, _, _, _ string, cmd []string, in io.Reader, out, errOut io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize, _ time.Duration) error {
	return s.pod.exec(ctx, s.container, cmd, in, out, errOut, tty, resize)
}

func (s streamRuntime) AttachContainer(ctx context.Context, _, _, _ string, in io.Reader, out, errOut io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	return s.container.attach(ctx, in, out, errOut, tty, resize)
}

func (s streamRuntime) PortForward(ctx context.Context, _, _ string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	var d net.Dialer
	dialCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := d.DialContext(dialCtx, "tcp", net.JoinHostPort(s.pod.ip, strconv.Itoa(int(port))))
	if err != nil {
		return fmt.Errorf("pod %s has nothing listening on port %d: %w", s.pod.key(), port, err)
	}
	defer conn.Close()
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(conn, stream)
		if tcp, ok := conn.(*net.TCPConn); ok {
			_ = tcp.CloseWrite()
		}
		done <- struct{}{}
	}()
	go func() { _, _ = io.Copy(stream, conn); done <- struct{}{} }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return nil
}

func (a *Agent) serveExec(w http.ResponseWriter, r *http.Request) {
	p, c, ok := a.lookup(w, r, "exec", true)
	if !ok {
		return
	}
	opts, err := remotecommand.NewOptions(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	cmd := r.URL.Query()["command"]
	remotecommand.ServeExec(w, r, streamRuntime{p, c}, p.key(), string(p.uid), c.spec.Name, cmd, opts,
		streamIdleTimeout, streamCreationTimeout, remotecommand.SupportedStreamingProtocols)
}

func (a *Agent) serveAttach(w http.ResponseWriter, r *http.Request) {
	p, c, ok := a.lookup(w, r, "attach", true)
	if !ok {
		return
	}
	opts, err := remotecommand.NewOptions(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	remotecommand.ServeAttach(w, r, streamRuntime{p, c}, p.key(), string(p.uid), c.spec.Name, opts,
		streamIdleTimeout, streamCreationTimeout, remotecommand.SupportedStreamingProtocols)
}

func (a *Agent) servePortForward(w http.ResponseWriter, r *http.Request) {
	p, _, ok := a.lookup(w, r, "portForward", false)
	if !ok {
		return
	}
	opts, err := portforward.NewV4Options(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	portforward.ServePortForward(w, r, streamRuntime{pod: p}, p.key(), string(p.uid), opts,
		streamIdleTimeout, streamCreationTimeout, portforward.SupportedProtocols)
}

func (a *Agent) serveLogs(w http.ResponseWriter, r *http.Request) {
	_, c, ok := a.lookup(w, r, "containerLogs", true)
	if !ok {
		return
	}
	opts, err := parseLogOptions(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	run := c.current
	if opts.previous {
		run = c.previous
	}
	c.mu.Unlock()
	if run == nil {
		msg := fmt.Sprintf("container %q has not started yet", c.spec.Name)
		if opts.previous {
			msg = fmt.Sprintf("previous terminated container %q not found", c.spec.Name)
		}
		http.Error(w, msg, http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	flush := func() {
		if flusher != nil {
			flusher.Flush()
		}
	}
	running := func() bool {
		select {
		case <-run.exited:
			return false
		default:
			return true
		}
	}
	if err := streamLog(r.Context(), run.logPath, opts, w, flush, running); err != nil && r.Context().Err() == nil {
		a.logf("serving logs of %s: %v", c.spec.Name, err)
	}
	flush()
}
