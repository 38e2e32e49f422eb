package nodeagent

import (
	"io"
	"sync"
)

// broadcaster copies one output stream of a container to its log and to every attached client.
// A client that cannot keep up is detached rather than allowed to stall the container.
type broadcaster struct {
	mu   sync.Mutex
	subs map[*subscriber]struct{}
	done chan struct{}
}

type subscriber struct {
	ch   chan []byte
	gone chan struct{}
	once sync.Once
}

func newBroadcaster() *broadcaster {
	return &broadcaster{subs: map[*subscriber]struct{}{}, done: make(chan struct{})}
}

// pump reads src until EOF, writing every chunk to log and to subscribers, then closes done.
func (b *broadcaster) pump(src io.Reader, log io.Writer) {
	defer func() {
		b.mu.Lock()
		for s := range b.subs {
			close(s.ch)
		}
		b.subs = map[*subscriber]struct{}{}
		b.mu.Unlock()
		close(b.done)
	}()
	buf := make([]byte, 32*1024)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			chunk := append([]byte(nil), buf[:n]...)
			_, _ = log.Write(chunk)
			b.mu.Lock()
			for s := range b.subs {
				select {
				case s.ch <- chunk:
				default:
					delete(b.subs, s)
					close(s.ch)
				}
			}
			b.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// subscribe starts copying future output to w. The returned channel closes when everything
// up to the end of the stream (or the detach) has been written to w.
func (b *broadcaster) subscribe(w io.Writer) (finished <-chan struct{}, cancel func()) {
	s := &subscriber{ch: make(chan []byte, 4096), gone: make(chan struct{})}
	fin := make(chan struct{})
	b.mu.Lock()
	select {
	case <-b.done:
		b.mu.Unlock()
		close(fin)
		return fin, func() {}
	default:
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	go func() {
		defer close(fin)
		for chunk := range s.ch {
			if _, err := w.Write(chunk); err != nil {
				debugf("attach: writing %d bytes to the client failed: %v", len(chunk), err)
				b.remove(s)
				for range s.ch {
				}
				return
			}
		}
	}()
	return fin, func() { b.remove(s) }
}

func (b *broadcaster) remove(s *subscriber) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[s]; ok {
		delete(b.subs, s)
		close(s.ch)
	}
}
