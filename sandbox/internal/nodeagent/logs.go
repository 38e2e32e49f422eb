package nodeagent

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

// Container logs are stored like the CRI log format kubelet reads:
//
//	2026-11-29T16:11:40.123456789Z stdout F a whole line
//	2026-11-29T16:11:40.223456789Z stdout P a partial line (no newline yet)
//
// so timestamps, sinceTime and the stream of every line survive for `kubectl logs`.

// logWriter appends one stream of a container's output to its log file.
type logWriter struct {
	mu     *sync.Mutex // shared by the stdout and stderr writers of one file
	file   *os.File
	stream string
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ts := time.Now().UTC().Format(time.RFC3339Nano)
	var buf bytes.Buffer
	rest := p
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		tag, line := "P", rest
		if i >= 0 {
			tag, line = "F", rest[:i]
			rest = rest[i+1:]
		} else {
			rest = nil
		}
		fmt.Fprintf(&buf, "%s %s %s ", ts, w.stream, tag)
		buf.Write(line)
		buf.WriteByte('\n')
	}
	if _, err := w.file.Write(buf.Bytes()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// logOptions are the query parameters kubelet's /containerLogs accepts.
type logOptions struct {
	follow     bool
	timestamps bool
	tailLines  int64 // -1: all
	limitBytes int64 // -1: no limit
	since      time.Time
	previous   bool
}

func parseLogOptions(r *http.Request) (logOptions, error) {
	q := r.URL.Query()
	o := logOptions{tailLines: -1, limitBytes: -1}
	o.follow = q.Get("follow") == "true"
	o.timestamps = q.Get("timestamps") == "true"
	o.previous = q.Get("previous") == "true"
	if v := q.Get("tailLines"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return o, fmt.Errorf("tailLines must be a non-negative integer, got %q", v)
		}
		o.tailLines = n
	}
	if v := q.Get("limitBytes"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return o, fmt.Errorf("limitBytes must be a positive integer, got %q", v)
		}
		o.limitBytes = n
	}
	if v := q.Get("sinceSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return o, fmt.Errorf("sinceSeconds must be a positive integer, got %q", v)
		}
		o.since = time.Now().Add(-time.Duration(n) * time.Second)
	}
	if v := q.Get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return o, fmt.Errorf("sinceTime must be RFC 3339, got %q", v)
		}
		o.since = t
	}
	return o, nil
}

type logLine struct {
	ts      string
	partial bool
	content []byte
}

func parseLogLine(raw []byte) (logLine, bool) {
	// "<ts> <stream> <P|F> <content>"
	parts := bytes.SplitN(raw, []byte(" "), 4)
	if len(parts) < 3 {
		return logLine{}, false
	}
	l := logLine{ts: string(parts[0]), partial: string(parts[2]) == "P"}
	if len(parts) == 4 {
		l.content = parts[3]
	}
	return l, true
}

// countingWriter stops the copy once limitBytes have been written.
type limitedWriter struct {
	w         io.Writer
	remaining int64 // -1: unlimited
}

var errLimitReached = fmt.Errorf("limitBytes reached")

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.remaining == 0 {
		return 0, errLimitReached
	}
	if l.remaining > 0 && int64(len(p)) > l.remaining {
		n, err := l.w.Write(p[:l.remaining])
		l.remaining -= int64(n)
		if err != nil {
			return n, err
		}
		return n, errLimitReached
	}
	n, err := l.w.Write(p)
	if l.remaining > 0 {
		l.remaining -= int64(n)
	}
	return n, err
}

// streamLog writes the log at path to w as kubelet would. With follow it keeps reading until the
// container run ends (running() turns false) and the file is drained, or ctx is done.
func streamLog(ctx context.Context, path string, o logOptions, w io.Writer, flush func(), running func() bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	out := &limitedWriter{w: w, remaining: o.limitBytes}

	if o.tailLines >= 0 {
		if err := seekToTail(f, o.tailLines); err != nil {
			return err
		}
	}
	reader := bufio.NewReaderSize(f, 64*1024)
	var pending []byte
	emit := func(raw []byte) error {
		l, ok := parseLogLine(raw)
		if !ok {
			return nil
		}
		if !o.since.IsZero() {
			if t, err := time.Parse(time.RFC3339Nano, l.ts); err == nil && t.Before(o.since) {
				return nil
			}
		}
		var buf []byte
		if o.timestamps {
			buf = append(buf, l.ts...)
			buf = append(buf, ' ')
		}
		buf = append(buf, l.content...)
		if !l.partial {
			buf = append(buf, '\n')
		}
		_, err := out.Write(buf)
		return err
	}
	for {
		chunk, err := reader.ReadSlice('\n')
		if len(chunk) > 0 {
			pending = append(pending, chunk...)
			if pending[len(pending)-1] == '\n' {
				if werr := emit(pending[:len(pending)-1]); werr != nil {
					if werr == errLimitReached {
						return nil
					}
					return werr
				}
				pending = pending[:0]
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			if !o.follow {
				return nil
			}
			flush()
			// Read once more after the run ended so nothing written just before the exit is lost.
			stillRunning := running()
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(100 * time.Millisecond):
			}
			if !stillRunning {
				if _, peekErr := reader.Peek(1); peekErr == io.EOF {
					return nil
				}
			}
			continue
		}
		if err != nil {
			return err
		}
	}
}

// seekToTail positions f at the start of the last n lines.
func seekToTail(f *os.File, n int64) error {
	info, err := f.Stat()
	if err != nil {
		return err
	}
	size := info.Size()
	if n == 0 {
		_, err := f.Seek(size, io.SeekStart)
		return err
	}
	const block = 64 * 1024
	var found int64
	pos := size
	buf := make([]byte, block)
	for pos > 0 {
		step := min(int64(block), pos)
		pos -= step
		if _, err := f.ReadAt(buf[:step], pos); err != nil && err != io.EOF {
			return err
		}
		for i := step - 1; i >= 0; i-- {
			if buf[i] != '\n' || pos+i == size-1 {
				continue
			}
			found++
			if found == n {
				_, err := f.Seek(pos+i+1, io.SeekStart)
				return err
			}
		}
	}
	_, err = f.Seek(0, io.SeekStart)
	return err
}
