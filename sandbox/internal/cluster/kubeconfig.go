package cluster

import (
	"fmt"
	"os"
	"path/filepath"

	"jitgate.dev/sandbox/internal/pki"
)

// IssueKubeconfig writes a kubeconfig for user (and groups) with a client certificate from the
// sandbox CA, e.g. the identity the jitgate gateway uses towards the apiserver.
func IssueKubeconfig(dir, user string, groups []string, out string) error {
	st, err := ReadState(dir)
	if err != nil {
		return fmt.Errorf("no sandbox in %s (run sandbox up first): %w", dir, err)
	}
	ca, err := pki.LoadCA(filepath.Join(dir, "pki"))
	if err != nil {
		return err
	}
	leaf, err := ca.Issue(pki.LeafSpec{CommonName: user, Organizations: groups, Client: true})
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "sandbox-kubeconfig")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	certPath, keyPath, err := leaf.WriteFiles(tmp, "client")
	if err != nil {
		return err
	}
	return writeKubeconfig(out, st.APIServerURL, ca.PEM, user, certPath, keyPath)
}
