package nodeagent

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func writeLog(t *testing.T, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "0.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	w := &logWriter{mu: &mu, file: f, stream: "stdout"}
	for _, l := range lines {
		if _, err := w.Write([]byte(l)); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	return path
}

func readLog(t *testing.T, path, query string) string {
	t.Helper()
	o, err := parseLogOptions(httptest.NewRequest("GET", "/containerLogs/ns/p/c?"+query, nil))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := streamLog(context.Background(), path, o, &out, func() {}, func() bool { return false }); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestLogsRoundTripWholeAndPartialLines(t *testing.T) {
	path := writeLog(t, "one\ntwo\n", "thr", "ee\n")
	if got, want := readLog(t, path, ""), "one\ntwo\nthree\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestLogsTailLines(t *testing.T) {
	path := writeLog(t, "a\nb\nc\nd\n")
	cases := map[string]string{"tailLines=0": "", "tailLines=2": "c\nd\n", "tailLines=9": "a\nb\nc\nd\n"}
	for q, want := range cases {
		if got := readLog(t, path, q); got != want {
			t.Errorf("%s: got %q, want %q", q, got, want)
		}
	}
}

func TestLogsLimitBytesAndTimestamps(t *testing.T) {
	path := writeLog(t, "hello world\n")
	if got := readLog(t, path, "limitBytes=5"); got != "hello" {
		t.Fatalf("limitBytes=5: got %q", got)
	}
	got := readLog(t, path, "timestamps=true")
	if !strings.HasSuffix(got, " hello world\n") || !strings.HasPrefix(got, "20") {
		t.Fatalf("timestamps=true: got %q", got)
	}
}

func TestLogOptionsRejectGarbage(t *testing.T) {
	for _, q := range []string{"tailLines=-1", "limitBytes=0", "sinceSeconds=x", "sinceTime=yesterday"} {
		if _, err := parseLogOptions(httptest.NewRequest("GET", "/x?"+q, nil)); err == nil {
			t.Errorf("%s: accepted", q)
		}
	}
}

func TestParseTarget(t *testing.T) {
	got, err := parseTarget("/exec/payments/api-1/app", "exec", true)
	if err != nil || got != (target{namespace: "payments", pod: "api-1", container: "app"}) {
		t.Fatalf("got %+v, %v", got, err)
	}
	got, err = parseTarget("/portForward/payments/api-1/uid-9", "portForward", false)
	if err != nil || got.uid != "uid-9" {
		t.Fatalf("got %+v, %v", got, err)
	}
	for _, bad := range []string{"/exec/payments", "/exec/a/b/c/d/e"} {
		if _, err := parseTarget(bad, "exec", true); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
