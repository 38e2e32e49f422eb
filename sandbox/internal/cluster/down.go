package cluster

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// ContainerPIDDir is where the node agent records the process group of every container it runs
// (one empty file per process group id), so `down` can clean up even after the agent was killed.
func ContainerPIDDir(podsDir string) string { return filepath.Join(podsDir, "pgids") }

// Down stops every component of the sandbox in dir (node agent first, etcd last) and every
// container process the node agent left behind. It is safe to call on a stopped sandbox.
func Down(dir string, log io.Writer) error {
	st, err := ReadState(dir)
	if errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(log, "no sandbox state in %s: nothing to stop\n", dir)
		killContainerGroups(filepath.Join(dir, "pods"))
		return nil
	}
	if err != nil {
		return err
	}
	for i := len(st.Processes) - 1; i >= 0; i-- {
		p := st.Processes[i]
		if !alive(p) {
			continue
		}
		_ = syscall.Kill(p.PID, syscall.SIGTERM)
		deadline := time.Now().Add(10 * time.Second)
		for alive(p) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if alive(p) {
			fmt.Fprintf(log, "%s (pid %d) ignored SIGTERM for 10s; killing it\n", p.Name, p.PID)
			_ = syscall.Kill(-p.PID, syscall.SIGKILL)
			_ = syscall.Kill(p.PID, syscall.SIGKILL)
		}
	}
	killContainerGroups(filepath.Join(dir, "pods"))
	if err := os.Remove(filepath.Join(dir, StateFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	fmt.Fprintf(log, "sandbox in %s stopped\n", dir)
	return nil
}

func killContainerGroups(podsDir string) {
	entries, err := os.ReadDir(ContainerPIDDir(podsDir))
	if err != nil {
		return
	}
	for _, e := range entries {
		pgid, err := strconv.Atoi(e.Name())
		if err != nil || pgid <= 1 {
			continue
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		_ = os.Remove(filepath.Join(ContainerPIDDir(podsDir), e.Name()))
	}
}
