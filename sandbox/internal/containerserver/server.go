// Package containerserver is what a sandbox container with no command runs: a small HTTP server
// on every declared containerPort of the pod's own loopback IP, so port-forward has something real
// to talk to.
//
//	GET  /      → "hello from <pod>\n"
//	POST /echo  → the request body, byte for byte
//	GET  /bytes?n=N → N bytes of a repeating pattern (for throughput runs)
package containerserver

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// maxEchoBytes caps what /echo holds in memory.
const maxEchoBytes = 256 << 20

// Run serves until SIGTERM.
func Run() error {
	podName := os.Getenv("POD_NAME")
	ip := os.Getenv("POD_IP")
	if ip == "" {
		ip = "127.0.0.1"
	}
	var ports []string
	for _, p := range strings.Split(os.Getenv("SANDBOX_CONTAINER_PORTS"), ",") {
		if p = strings.TrimSpace(p); p != "" {
			ports = append(ports, p)
		}
	}
	logger := log.New(os.Stdout, "", log.LstdFlags)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		logger.Printf("%s %s from %s", r.Method, r.URL.Path, r.RemoteAddr)
		fmt.Fprintf(w, "hello from %s\n", podName)
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		// Read the whole body before answering: Go's HTTP/1 server does not read and write at once.
		body, err := io.ReadAll(io.LimitReader(r.Body, maxEchoBytes+1))
		if err != nil || len(body) > maxEchoBytes {
			http.Error(w, fmt.Sprintf("body unreadable or over %d bytes", maxEchoBytes), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
		logger.Printf("%s %s %d bytes", r.Method, r.URL.Path, len(body))
	})
	mux.HandleFunc("GET /bytes", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
		if err != nil || n < 0 {
			http.Error(w, "n must be a non-negative byte count", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		chunk := []byte(strings.Repeat("0123456789abcdef", 4096))
		for n > 0 {
			k := min(n, int64(len(chunk)))
			if _, err := w.Write(chunk[:k]); err != nil {
				return
			}
			n -= k
		}
		logger.Printf("%s %s", r.Method, r.URL.String())
	})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	errs := make(chan error, len(ports))
	for _, port := range ports {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, port))
		if err != nil {
			return fmt.Errorf("listening on %s:%s: %w", ip, port, err)
		}
		logger.Printf("serving on %s", ln.Addr())
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { errs <- srv.Serve(ln) }()
	}
	if len(ports) == 0 {
		logger.Printf("no containerPort declared; idling")
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-errs:
		return err
	}
}
