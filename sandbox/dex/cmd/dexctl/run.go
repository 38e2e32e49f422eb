package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
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
	"syscall"
	"time"
)

// State is what DIR/dex/state holds while Dex runs.
type State struct {
	PID       int       `json:"pid"`
	Port      int       `json:"port"`
	Issuer    string    `json:"issuer"`
	Binary    string    `json:"binary"`
	StartedAt time.Time `json:"startedAt"`
}

type file struct {
	path string
	data []byte
	mode os.FileMode
}

func up(dir, bin string, timeout time.Duration) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	dexDir := filepath.Join(dir, "dex")
	if bin, err = filepath.Abs(bin); err != nil {
		return err
	}
	if st, err := readState(dexDir); err == nil && alive(st) {
		caPEM, err := os.ReadFile(filepath.Join(dexDir, "ca.crt"))
		if err == nil && discover(st.Issuer, caPEM) == nil {
			fmt.Printf("Dex already running (pid %d): %s\n", st.PID, st.Issuer)
			return nil
		}
		fmt.Printf("Dex (pid %d) is not serving discovery; restarting it\n", st.PID)
		stop(st)
	}
	if err := os.MkdirAll(dexDir, 0o700); err != nil {
		return err
	}

	// Dex's serving certificate comes from the sandbox CA, which `sandbox up` makes anew each
	// time, so it is issued anew at every start.
	certPEM, keyPEM, err := issueServingCert(filepath.Join(dir, "pki"))
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "pki", "ca.crt"))
	if err != nil {
		return err
	}
	certPath, keyPath := filepath.Join(dexDir, "tls.crt"), filepath.Join(dexDir, "tls.key")
	files := []file{
		{certPath, certPEM, 0o644},
		{keyPath, keyPEM, 0o600},
		{filepath.Join(dexDir, "ca.crt"), caPEM, 0o644},
	}

	port, err := freePort()
	if err != nil {
		return err
	}
	listen := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	issuer := "https://" + listen + "/dex"
	cfg, err := dexConfig(issuer, listen, certPath, keyPath)
	if err != nil {
		return err
	}
	configPath := filepath.Join(dexDir, "config.yaml")
	users, err := json.MarshalIndent(Users, "", "  ")
	if err != nil {
		return err
	}
	client, err := json.MarshalIndent(JitgateClient, "", "  ")
	if err != nil {
		return err
	}
	files = append(files,
		file{configPath, cfg, 0o600},
		file{filepath.Join(dexDir, "users.json"), append(users, '\n'), 0o600},
		file{filepath.Join(dexDir, "client.json"), append(client, '\n'), 0o600},
	)
	for _, f := range files {
		if err := writeFile(f.path, f.data, f.mode); err != nil {
			return err
		}
	}
	// The issuer file is written only once Dex serves, so its presence means "Dex is up".
	_ = os.Remove(filepath.Join(dexDir, "issuer"))

	logPath := filepath.Join(dexDir, "dex.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "serve", configPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// A session of its own: Dex outlives this command and is not hit by the terminal's signals.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", bin, err)
	}
	st := State{PID: cmd.Process.Pid, Port: port, Issuer: issuer, Binary: bin, StartedAt: start.UTC()}
	if err := writeState(dexDir, st); err != nil {
		stop(st)
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	deadline := time.Now().Add(timeout)
	for {
		err := discover(issuer, caPEM)
		if err == nil {
			break
		}
		select {
		case werr := <-exited:
			_ = os.Remove(filepath.Join(dexDir, "state"))
			return fmt.Errorf("dex exited during start-up (%v); the end of %s:\n%s", werr, logPath, tail(logPath, 20))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop(st)
			_ = os.Remove(filepath.Join(dexDir, "state"))
			return fmt.Errorf("dex did not serve discovery within %s (last error: %v); the end of %s:\n%s", timeout, err, logPath, tail(logPath, 20))
		}
	}
	if err := writeFile(filepath.Join(dexDir, "issuer"), []byte(issuer+"\n"), 0o644); err != nil {
		stop(st)
		return err
	}
	fmt.Printf("Dex up in %.1fs (pid %d): issuer %s\n", time.Since(start).Seconds(), st.PID, issuer)
	fmt.Printf("  CA %s, client %s, users in %s, log %s\n",
		filepath.Join(dexDir, "ca.crt"), JitgateClient.ID, filepath.Join(dexDir, "users.json"), logPath)
	return nil
}

func down(dir string) error {
	dexDir := filepath.Join(dir, "dex")
	st, err := readState(dexDir)
	if errors.Is(err, os.ErrNotExist) {
		fmt.Printf("no Dex state in %s: nothing to stop\n", dexDir)
		return nil
	}
	if err != nil {
		return err
	}
	if alive(st) {
		stop(st)
		fmt.Printf("Dex (pid %d) stopped\n", st.PID)
	} else {
		fmt.Printf("Dex (pid %d) was not running\n", st.PID)
	}
	_ = os.Remove(filepath.Join(dexDir, "issuer"))
	return os.Remove(filepath.Join(dexDir, "state"))
}

// discover fetches the issuer's discovery document and checks that it names the issuer.
func discover(issuer string, caPEM []byte) error {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return errors.New("no certificate in the CA file")
	}
	client := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, issuer+"/.well-known/openid-configuration", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("discovery answered %s", resp.Status)
	}
	var doc struct {
		Issuer string `json:"issuer"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc); err != nil {
		return fmt.Errorf("discovery document: %w", err)
	}
	if doc.Issuer != issuer {
		return fmt.Errorf("discovery names issuer %q, expected %q", doc.Issuer, issuer)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func readState(dexDir string) (State, error) {
	var st State
	data, err := os.ReadFile(filepath.Join(dexDir, "state"))
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("%s/state: %w", dexDir, err)
	}
	return st, nil
}

func writeState(dexDir string, st State) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(dexDir, "state"), append(data, '\n'), 0o644)
}

// writeFile replaces path atomically, so a reader never sees half a file.
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// alive says whether the recorded process still runs and is the recorded Dex binary, so a pid
// reused by another program is never signalled.
func alive(st State) bool {
	if st.PID <= 1 {
		return false
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", st.PID))
	if err != nil {
		return false
	}
	return samePath(strings.TrimSuffix(exe, " (deleted)"), st.Binary)
}

// samePath reports whether a and b name the same file: the kernel reports a process's binary
// with every symlink resolved, while the state holds the path it was started by (which may go
// through a symlinked cache directory).
func samePath(a, b string) bool {
	if a == b {
		return true
	}
	ra, errA := filepath.EvalSymlinks(a)
	rb, errB := filepath.EvalSymlinks(b)
	return errA == nil && errB == nil && ra == rb
}

func stop(st State) {
	if !alive(st) {
		return
	}
	_ = syscall.Kill(st.PID, syscall.SIGTERM)
	deadline := time.Now().Add(10 * time.Second)
	for alive(st) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if alive(st) {
		_ = syscall.Kill(st.PID, syscall.SIGKILL)
	}
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
