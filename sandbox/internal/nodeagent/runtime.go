package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
)

// containerKind says which list of the pod spec a container comes from.
type containerKind int

const (
	regularContainer containerKind = iota
	initContainer
	ephemeralContainer
)

// containerSpec is the part of a container spec the local-process runtime honours.
type containerSpec struct {
	Name       string
	Image      string
	Command    []string
	Args       []string
	Env        []corev1.EnvVar
	WorkingDir string
	Stdin      bool
	StdinOnce  bool
	TTY        bool
	Ports      []int32
}

// run is one start of a container's process; a restart makes a new run.
type run struct {
	cmd       *exec.Cmd
	pgid      int
	stdin     io.WriteCloser // pipe or pty master; nil without spec.Stdin
	pty       *os.File
	stdout    *broadcaster
	stderr    *broadcaster // nil with a TTY
	logPath   string
	startedAt time.Time
	exited    chan struct{} // closed when the process has exited and its output is drained
	exitCode  int
	finished  time.Time
	stdinOnce sync.Once
}

// container is a pod container run as a local process.
type container struct {
	spec         containerSpec
	kind         containerKind
	dir          string
	mu           sync.Mutex
	current      *run
	previous     *run
	restartCount int32
	waitReason   string
	stopped      bool
}

// pod is the runtime side of one pod bound to this node.
type pod struct {
	uid        types.UID
	namespace  string
	name       string
	ip         string
	dir        string
	restart    corev1.RestartPolicy
	createdAt  time.Time
	mu         sync.Mutex
	containers map[string]*container
	order      []string // regular and init containers in spec order, for status
	initDone   bool
	stopping   bool
	changed    func()
	agent      *Agent
}

func (p *pod) key() string { return p.namespace + "/" + p.name }

func (p *pod) container(name string) (*container, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.containers[name]
	if !ok {
		return nil, fmt.Errorf("container %q not found in pod %s", name, p.key())
	}
	return c, nil
}

// env is what every process in the container sees, exec'd ones included.
func (p *pod) env(c *container) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + c.dir,
		"HOSTNAME=" + p.name,
		"POD_NAME=" + p.name,
		"POD_NAMESPACE=" + p.namespace,
		"POD_IP=" + p.ip,
		"CONTAINER_NAME=" + c.spec.Name,
	}
	if c.spec.TTY {
		env = append(env, "TERM=xterm")
	}
	var ports []string
	for _, port := range c.spec.Ports {
		ports = append(ports, strconv.Itoa(int(port)))
	}
	env = append(env, "SANDBOX_CONTAINER_PORTS="+strings.Join(ports, ","))
	for _, e := range c.spec.Env {
		value := e.Value
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			switch e.ValueFrom.FieldRef.FieldPath {
			case "metadata.name":
				value = p.name
			case "metadata.namespace":
				value = p.namespace
			case "status.podIP", "status.hostIP":
				value = p.ip
			case "spec.nodeName":
				value = p.agent.cfg.NodeName
			}
		}
		env = append(env, e.Name+"="+value)
	}
	return env
}

func (p *pod) workingDir(c *container) string {
	if c.spec.WorkingDir != "" {
		if info, err := os.Stat(c.spec.WorkingDir); err == nil && info.IsDir() {
			return c.spec.WorkingDir
		}
	}
	return c.dir
}

// argv resolves what to run: the spec's command and args; without any, a shell for an
// interactive container and the built-in HTTP server otherwise (images are not pulled).
func (p *pod) argv(c *container) []string {
	argv := append(append([]string{}, c.spec.Command...), c.spec.Args...)
	if len(c.spec.Command) == 0 {
		if c.spec.Stdin || c.spec.TTY {
			return append([]string{"/bin/sh"}, c.spec.Args...)
		}
		return []string{p.agent.self, "container-server"}
	}
	return argv
}

// start launches a new run of c.
func (p *pod) start(c *container) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return errors.New("container stopped")
	}
	if c.current != nil {
		select {
		case <-c.current.exited:
			c.previous = c.current
			c.current = nil
			c.restartCount++
		default:
			return nil // already running
		}
	}
	argv := p.argv(c)
	path, err := exec.LookPath(argv[0])
	if err != nil {
		c.waitReason = "RunContainerError"
		return fmt.Errorf("container %s: %w", c.spec.Name, err)
	}
	cmd := exec.Command(path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Env = p.env(c)
	cmd.Dir = p.workingDir(c)

	r := &run{
		cmd:       cmd,
		stdout:    newBroadcaster(),
		logPath:   filepath.Join(c.dir, fmt.Sprintf("%d.log", c.restartCount)),
		exited:    make(chan struct{}),
		startedAt: time.Now(),
	}
	logFile, err := os.OpenFile(r.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	var logMu sync.Mutex
	stdoutLog := &logWriter{mu: &logMu, file: logFile, stream: "stdout"}
	var pumps sync.WaitGroup

	if c.spec.TTY {
		ptmx, err := pty.StartWithAttrs(cmd, &pty.Winsize{Rows: 24, Cols: 80},
			&syscall.SysProcAttr{Setsid: true, Setctty: true, Pdeathsig: syscall.SIGKILL})
		if err != nil {
			logFile.Close()
			c.waitReason = "RunContainerError"
			return fmt.Errorf("starting %s in a pty: %w", c.spec.Name, err)
		}
		r.pty = ptmx
		if c.spec.Stdin {
			r.stdin = ptmx
		}
		pumps.Add(1)
		go func() { defer pumps.Done(); r.stdout.pump(ptmx, stdoutLog) }()
	} else {
		r.stderr = newBroadcaster()
		stdoutR, stdoutW, err := os.Pipe()
		if err != nil {
			return err
		}
		stderrR, stderrW, err := os.Pipe()
		if err != nil {
			return err
		}
		cmd.Stdout, cmd.Stderr = stdoutW, stderrW
		if c.spec.Stdin {
			stdin, err := cmd.StdinPipe()
			if err != nil {
				return err
			}
			r.stdin = stdin
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			stdoutW.Close()
			stderrW.Close()
			logFile.Close()
			c.waitReason = "RunContainerError"
			return fmt.Errorf("starting %s: %w", c.spec.Name, err)
		}
		stdoutW.Close()
		stderrW.Close()
		stderrLog := &logWriter{mu: &logMu, file: logFile, stream: "stderr"}
		pumps.Add(2)
		go func() { defer pumps.Done(); r.stdout.pump(stdoutR, stdoutLog) }()
		go func() { defer pumps.Done(); r.stderr.pump(stderrR, stderrLog) }()
	}
	r.pgid = cmd.Process.Pid
	p.agent.recordGroup(r.pgid, true)
	c.current = r
	c.waitReason = ""

	go func() {
		err := cmd.Wait()
		// Background children may keep the output pipes open: give them a moment, then stop
		// waiting for them, as a container runtime would once the main process is gone.
		drained := make(chan struct{})
		go func() { pumps.Wait(); close(drained) }()
		select {
		case <-drained:
		case <-time.After(2 * time.Second):
			_ = syscall.Kill(-r.pgid, syscall.SIGKILL)
			<-drained
		}
		if r.pty != nil {
			r.pty.Close()
		}
		logFile.Close()
		p.agent.recordGroup(r.pgid, false)
		c.mu.Lock()
		r.exitCode = exitCode(err)
		r.finished = time.Now()
		close(r.exited)
		c.mu.Unlock()
		p.changed()
		p.afterExit(c, r)
	}()
	p.changed()
	return nil
}

// afterExit applies the restart policy once a run ended.
func (p *pod) afterExit(c *container, r *run) {
	p.mu.Lock()
	stopping := p.stopping
	p.mu.Unlock()
	if stopping || c.kind == ephemeralContainer || c.kind == initContainer {
		if c.kind == initContainer {
			p.agent.kick(p)
		}
		return
	}
	restart := p.restart == corev1.RestartPolicyAlways || (p.restart == corev1.RestartPolicyOnFailure && r.exitCode != 0)
	if !restart {
		return
	}
	c.mu.Lock()
	backoff := time.Duration(1<<min(c.restartCount, 4)) * time.Second
	c.waitReason = "CrashLoopBackOff"
	c.mu.Unlock()
	time.AfterFunc(backoff, func() {
		if err := p.start(c); err != nil {
			p.agent.logf("restarting %s/%s: %v", p.key(), c.spec.Name, err)
		}
	})
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return exitErr.ExitCode()
	}
	return 128
}

// stop ends every container of the pod: SIGTERM, then SIGKILL after grace.
func (p *pod) stop(grace time.Duration) {
	p.mu.Lock()
	p.stopping = true
	var runs []*run
	for _, c := range p.containers {
		c.mu.Lock()
		c.stopped = true
		if c.current != nil {
			runs = append(runs, c.current)
		}
		c.mu.Unlock()
	}
	p.mu.Unlock()
	for _, r := range runs {
		_ = syscall.Kill(-r.pgid, syscall.SIGTERM)
	}
	deadline := time.After(grace)
	for _, r := range runs {
		select {
		case <-r.exited:
		case <-deadline:
			for _, r := range runs {
				_ = syscall.Kill(-r.pgid, syscall.SIGKILL)
			}
			for _, r := range runs {
				<-r.exited
			}
			return
		}
	}
}

// running returns the current run if its process is alive.
func (c *container) running() *run {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.current == nil {
		return nil
	}
	select {
	case <-c.current.exited:
		return nil
	default:
		return c.current
	}
}

// attach wires a client to the container's main process, like `kubectl attach`.
func (c *container) attach(ctx context.Context, in io.Reader, out, errOut io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	r := c.running()
	if r == nil {
		return fmt.Errorf("container %s is not running", c.spec.Name)
	}
	var finished []<-chan struct{}
	var cancels []func()
	if out != nil {
		f, cancel := r.stdout.subscribe(out)
		finished, cancels = append(finished, f), append(cancels, cancel)
	}
	if errOut != nil && r.stderr != nil {
		f, cancel := r.stderr.subscribe(errOut)
		finished, cancels = append(finished, f), append(cancels, cancel)
	}
	defer func() {
		for _, cancel := range cancels {
			cancel()
		}
	}()
	if in != nil && r.stdin != nil {
		go func() {
			_, _ = io.Copy(r.stdin, in)
			if c.spec.StdinOnce && r.pty == nil {
				r.stdinOnce.Do(func() { _ = r.stdin.Close() })
			}
		}()
	}
	if resize != nil && r.pty != nil {
		go func() {
			for size := range resize {
				_ = pty.Setsize(r.pty, &pty.Winsize{Rows: size.Height, Cols: size.Width})
			}
		}()
	}
	select {
	case <-ctx.Done():
		debugf("attach %s: client went away", c.spec.Name)
		return nil
	case <-r.exited:
		for _, f := range finished {
			<-f
		}
		debugf("attach %s: container exited, output delivered", c.spec.Name)
		// When this returns, cri-streaming writes the status and closes the connection at once.
		// The apiserver's upgrade proxy tears down both halves as soon as either copy ends, so
		// under load the last output frames can be dropped on their way to an SPDY client. A
		// short linger lets them through first (seen with 1 of 10 concurrent attaches on 2 cores).
		select {
		case <-ctx.Done():
		case <-time.After(attachLinger):
		}
		return nil
	}
}

// attachLinger is how long an attach stays open after the container's last output.
const attachLinger = 250 * time.Millisecond

// debugf logs when SANDBOX_DEBUG is set.
func debugf(format string, args ...any) {
	if os.Getenv("SANDBOX_DEBUG") != "" {
		log.Printf("debug: "+format, args...)
	}
}

// exec runs cmd beside the container's main process, as `kubectl exec` does.
func (p *pod) exec(ctx context.Context, c *container, argv []string, in io.Reader, out, errOut io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	if c.running() == nil {
		return fmt.Errorf("container %s is not running", c.spec.Name)
	}
	if len(argv) == 0 {
		return errors.New("no command given")
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		// What a container runtime reports for a missing binary; kubectl shows exit code 127.
		if errOut != nil {
			fmt.Fprintf(errOut, "exec: %q: executable file not found in $PATH\n", argv[0])
		}
		return exitError{code: 127, err: err}
	}
	cmd := exec.Command(path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Env = p.env(c)
	cmd.Dir = p.workingDir(c)
	cmd.WaitDelay = 2 * time.Second

	if tty {
		ptmx, err := pty.StartWithAttrs(cmd, &pty.Winsize{Rows: 24, Cols: 80},
			&syscall.SysProcAttr{Setsid: true, Setctty: true, Pdeathsig: syscall.SIGKILL})
		if err != nil {
			return err
		}
		defer ptmx.Close()
		p.agent.recordGroup(cmd.Process.Pid, true)
		defer p.agent.recordGroup(cmd.Process.Pid, false)
		if resize != nil {
			go func() {
				for size := range resize {
					_ = pty.Setsize(ptmx, &pty.Winsize{Rows: size.Height, Cols: size.Width})
				}
			}()
		}
		if in != nil {
			go func() { _, _ = io.Copy(ptmx, in) }()
		}
		copied := make(chan struct{})
		go func() {
			defer close(copied)
			if out != nil {
				_, _ = io.Copy(out, ptmx)
			}
		}()
		waitErr := waitOrKill(ctx, cmd)
		select {
		case <-copied:
		case <-time.After(2 * time.Second):
		}
		return asExitError(waitErr)
	}

	cmd.Stdout, cmd.Stderr = out, errOut
	var stdin io.WriteCloser
	if in != nil {
		if stdin, err = cmd.StdinPipe(); err != nil {
			return err
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	p.agent.recordGroup(cmd.Process.Pid, true)
	defer p.agent.recordGroup(cmd.Process.Pid, false)
	if stdin != nil {
		go func() {
			_, _ = io.Copy(stdin, in)
			_ = stdin.Close()
		}()
	}
	return asExitError(waitOrKill(ctx, cmd))
}

// waitOrKill waits for cmd; if the client goes away first, its whole process group is killed.
func waitOrKill(ctx context.Context, cmd *exec.Cmd) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		return <-done
	}
}

// exitError carries a process exit status in the shape cri-streaming turns into a
// NonZeroExitCode Status (k8s.io/utils/exec.ExitError).
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string   { return fmt.Sprintf("command exited with %d: %v", e.code, e.err) }
func (e exitError) String() string  { return e.Error() }
func (e exitError) Exited() bool    { return true }
func (e exitError) ExitStatus() int { return e.code }

func asExitError(err error) error {
	if err == nil {
		return nil
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return exitError{code: exitCode(err), err: err}
	}
	if errors.Is(err, exec.ErrWaitDelay) {
		return nil
	}
	return err
}
