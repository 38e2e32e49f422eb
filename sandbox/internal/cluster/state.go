package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// StateFile is the name of the file `sandbox up` writes into the sandbox folder.
const StateFile = "state.json"

// Process is one running component of the sandbox.
type Process struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	Log  string `json:"log"`
}

// State is what a running sandbox looks like from outside; tests and the Makefile read it.
type State struct {
	Dir               string    `json:"dir"`
	APIServerURL      string    `json:"apiServerURL"`
	EtcdURL           string    `json:"etcdURL"`
	KubeletPort       int       `json:"kubeletPort"`
	NodeName          string    `json:"nodeName"`
	AdminKubeconfig   string    `json:"adminKubeconfig"`
	CACert            string    `json:"caCert"`
	KubernetesVersion string    `json:"kubernetesVersion"`
	StartedAt         time.Time `json:"startedAt"`
	ReadyAfterMillis  int64     `json:"readyAfterMillis"`
	Processes         []Process `json:"processes"`
}

// ReadState loads DIR/state.json.
func ReadState(dir string) (*State, error) {
	data, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s is not a sandbox state file: %w", filepath.Join(dir, StateFile), err)
	}
	return &s, nil
}

func (s *State) write() error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.Dir, StateFile+".tmp")
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(s.Dir, StateFile))
}

// alive reports whether pid is still one of our sandbox processes (guards against PID reuse).
func alive(p Process) bool {
	if p.PID <= 0 {
		return false
	}
	if err := syscall.Kill(p.PID, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.PID))
	if err != nil {
		return false
	}
	args := strings.Split(string(cmdline), "\x00")
	return len(args) > 1 && args[1] == p.Name
}

// Running reports whether every component of the state is alive.
func (s *State) Running() bool {
	if len(s.Processes) == 0 {
		return false
	}
	for _, p := range s.Processes {
		if !alive(p) {
			return false
		}
	}
	return true
}
