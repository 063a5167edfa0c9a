package execrun

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// errSupervisorLost: the connection to the supervisor broke before it
// answered.
var errSupervisorLost = errors.New("the supervisor went away")

// helloTimeout bounds the wait for a supervisor's first line.
const helloTimeout = 5 * time.Second

// supervisorConn is a Runtime's connection to the supervisor of its state
// directory: requests go out, answers and exits come back.
type supervisorConn struct {
	c   net.Conn
	pid int // the supervisor's
	wmu sync.Mutex
	// notes is told each start and exit the supervisor reports, before
	// the request's answer goes out and the run's watchers wake; may be nil.
	notes runNotes

	mu      sync.Mutex
	broken  bool
	pending map[string]chan shimReply // start requests without an answer
	forgets map[string]chan shimReply // forget requests without an answer
	exits   map[string]chan struct{}  // closed when the run has exited
}

// runNotes keeps what a supervisor reports of runs (the Runtime).
type runNotes interface {
	noteStart(id string, st state)
	noteExit(id string, rec exitRecord)
}

// dialSupervisor connects to the supervisor listening in dir and reads its
// hello. An error means no supervisor took the connection: none listens,
// or it was going away. notes (may be nil) is told of starts and exits.
func dialSupervisor(dir string, notes runNotes) (*supervisorConn, error) {
	c, err := net.Dial("unix", filepath.Join(dir, supervisorSock))
	if err != nil {
		return nil, err
	}
	c.SetReadDeadline(time.Now().Add(helloTimeout))
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("supervisor hello: %w", err)
	}
	c.SetReadDeadline(time.Time{})
	f := strings.Fields(line)
	if len(f) != 2 || f[0] != supervisorHello {
		c.Close()
		return nil, fmt.Errorf("supervisor hello %q: want %s <pid>", strings.TrimSpace(line), supervisorHello)
	}
	pid, err := strconv.Atoi(f[1])
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("supervisor hello %q: %w", strings.TrimSpace(line), err)
	}
	sc := &supervisorConn{c: c, pid: pid, notes: notes,
		pending: map[string]chan shimReply{}, forgets: map[string]chan shimReply{}, exits: map[string]chan struct{}{}}
	go sc.read(br)
	return sc, nil
}

// read takes the supervisor's answers and exits until the connection ends;
// then every request without an answer fails and every watcher wakes.
func (sc *supervisorConn) read(br *bufio.Reader) {
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			break
		}
		kind, rest, _ := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
		id, msg, _ := strings.Cut(rest, " ")
		reply := shimReply{kind: kind, msg: msg}
		var rec journalRecord // of "started" and "exited": the journal's
		switch kind {
		case "started":
			if err := json.Unmarshal([]byte(msg), &rec); err != nil || rec.State == nil {
				reply = shimReply{kind: "failed", msg: fmt.Sprintf("the supervisor's record of the start: %q: %v", msg, err)}
			} else {
				reply.state = rec.State
				if sc.notes != nil {
					sc.notes.noteStart(id, *rec.State)
				}
			}
		case "exited":
			if err := json.Unmarshal([]byte(msg), &rec); err == nil && rec.Exit != nil && sc.notes != nil {
				sc.notes.noteExit(id, *rec.Exit)
			}
		}
		sc.mu.Lock()
		switch kind {
		case "started", "failed", "exists":
			if ch, ok := sc.pending[id]; ok {
				delete(sc.pending, id)
				ch <- reply
			} else if ch, ok := sc.forgets[id]; ok && kind == "failed" {
				delete(sc.forgets, id)
				ch <- reply
			}
		case "forgot":
			if ch, ok := sc.forgets[id]; ok {
				delete(sc.forgets, id)
				ch <- reply
			}
		case "exited":
			if ch, ok := sc.exits[id]; ok {
				delete(sc.exits, id)
				close(ch)
			}
		}
		sc.mu.Unlock()
	}
	sc.close()
}

// close ends the connection: requests without an answer fail, watchers wake.
func (sc *supervisorConn) close() {
	sc.c.Close()
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.broken {
		return
	}
	sc.broken = true
	for _, m := range []map[string]chan shimReply{sc.pending, sc.forgets} {
		for id, ch := range m {
			ch <- shimReply{err: errSupervisorLost}
			delete(m, id)
		}
	}
	for id, ch := range sc.exits {
		close(ch)
		delete(sc.exits, id)
	}
}

func (sc *supervisorConn) isBroken() bool {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.broken
}

// start asks the supervisor to start run id from spec (one line of JSON);
// the answer comes on the channel: started (with the run's state),
// exists, failed, or errSupervisorLost.
func (sc *supervisorConn) start(id string, spec []byte) (<-chan shimReply, error) {
	return sc.request(sc.pending, "start "+id+" "+string(spec)+"\n", id)
}

// forget asks the supervisor to have the journal forget run id; the
// answer comes on the channel: forgot, failed, or errSupervisorLost.
func (sc *supervisorConn) forget(id string) (<-chan shimReply, error) {
	return sc.request(sc.forgets, "forget "+id+"\n", id)
}

// request sends line, whose answer about run id is to come on a channel
// kept in pending.
func (sc *supervisorConn) request(pending map[string]chan shimReply, line, id string) (<-chan shimReply, error) {
	ch := make(chan shimReply, 1)
	sc.mu.Lock()
	if sc.broken {
		sc.mu.Unlock()
		return nil, errSupervisorLost
	}
	pending[id] = ch
	sc.mu.Unlock()
	sc.wmu.Lock()
	sc.c.SetWriteDeadline(time.Now().Add(sendTimeout))
	_, err := io.WriteString(sc.c, line)
	sc.wmu.Unlock()
	if err != nil {
		// Whether the supervisor read it cannot be told: the answer, or
		// errSupervisorLost, still comes on ch.
		sc.close()
	}
	return ch, nil
}

// watch returns a channel closed when the supervisor reports that run id
// exited, or when the connection ends; nil when it has ended.
func (sc *supervisorConn) watch(id string) <-chan struct{} {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.broken {
		return nil
	}
	ch, ok := sc.exits[id]
	if !ok {
		ch = make(chan struct{})
		sc.exits[id] = ch
	}
	return ch
}

// supervisor returns the connection to the state directory's supervisor:
// the current one, a new one, or, with spawn, one to a supervisor it starts
// when none listens. Without spawn and without a supervisor it returns nil.
func (r *Runtime) supervisor(spawn bool) (*supervisorConn, error) {
	r.supMu.Lock()
	defer r.supMu.Unlock()
	if r.sup != nil && !r.sup.isBroken() {
		return r.sup, nil
	}
	r.sup = nil
	var err error
	for range 3 {
		var sc *supervisorConn
		if sc, err = dialSupervisor(r.dir, r); err == nil {
			r.mu.Lock()
			closed := r.closed
			r.mu.Unlock()
			if closed {
				sc.close()
				return nil, ErrClosed
			}
			r.sup = sc
			// Exits recorded while no connection would have told them:
			// from the journal, read once this connection hears of later
			// ones.
			r.refreshKept()
			return sc, nil
		}
		if !spawn {
			return nil, nil
		}
		if err = r.spawnSupervisor(); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("connect to the supervisor: %w", err)
}

// spawnSupervisor starts a supervisor for the state directory, in a
// session of its own so that it outlives this process, and waits until it
// listens, or says another one does.
func (r *Runtime) spawnSupervisor() error {
	logf, err := os.OpenFile(filepath.Join(r.dir, supervisorLog), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	defer pr.Close()
	cmd := exec.Command(r.shimPath, append(slices.Clone(r.shimArgs), r.dir)...)
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{pw} // fd 3
	// A session of its own: no signal to the node daemon's process group
	// or terminal reaches the supervisor, and it outlives the daemon.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	pw.Close()
	if err != nil {
		return fmt.Errorf("start the supervisor: %w", err)
	}
	go cmd.Wait() // reap it when it exits while this process lives
	b, err := io.ReadAll(io.LimitReader(pr, 64<<10))
	if err != nil {
		return fmt.Errorf("start the supervisor: %w", err)
	}
	switch msg := string(bytes.TrimSpace(b)); msg {
	case "ready", "busy":
		r.log.Info("execrun: started a supervisor", "pid", cmd.Process.Pid, "answer", msg)
		return nil
	default:
		return fmt.Errorf("start the supervisor: %q; its log: %s", msg, tail(filepath.Join(r.dir, supervisorLog)))
	}
}
