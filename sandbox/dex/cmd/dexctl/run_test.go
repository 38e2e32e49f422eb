package main

import (
	"os"
	"path/filepath"
	"testing"
)

// A Dex started through a symlinked cache directory is still recognised as ours: /proc/PID/exe
// resolves the symlink, the state keeps the path Dex was started by.
func TestSamePathSeesThroughSymlinkedDirectories(t *testing.T) {
	real := t.TempDir()
	bin := filepath.Join(real, "dex")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "cache")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if !samePath(bin, filepath.Join(link, "dex")) {
		t.Fatalf("%s and %s are the same file", bin, filepath.Join(link, "dex"))
	}
	other := filepath.Join(real, "dexctl")
	if err := os.WriteFile(other, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if samePath(bin, other) {
		t.Fatalf("%s and %s are different files", bin, other)
	}
	if samePath(bin, filepath.Join(real, "missing")) {
		t.Fatal("a missing file is never the running binary")
	}
}
