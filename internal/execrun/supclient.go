package execrun

import (
	"bufio"
	"bytes"
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

	mu      sync.Mutex
	broken  bool
	pending map[string]chan shimReply // start requests without an answer
	exits   map[string]chan struct{}  // closed when the run has exited
}

// dialSupervisor connects to the supervisor listening in dir and reads its
// hello. An error means no supervisor took the connection: none listens,
// or it was going away.
func dialSupervisor(dir string) (*supervisorConn, error) {
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
	sc := &supervisorConn{c: c, pid: pid, pending: map[string]chan shimReply{}, exits: map[string]chan struct{}{}}
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
		sc.mu.Lock()
		switch kind {
		case "started", "failed":
			if ch, ok := sc.pending[id]; ok {
				delete(sc.pending, id)
				if kind == "started" {
					ch <- shimReply{msg: "ok"}
				} else {
					ch <- shimReply{msg: "error: " + msg}
				}
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
	for id, ch := range sc.pending {
		ch <- shimReply{err: errSupervisorLost}
		delete(sc.pending, id)
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

// start asks the supervisor to start run id; the answer comes on the
// channel: "ok", "error: <message>", or errSupervisorLost.
func (sc *supervisorConn) start(id string) (<-chan shimReply, error) {
	ch := make(chan shimReply, 1)
	sc.mu.Lock()
	if sc.broken {
		sc.mu.Unlock()
		return nil, errSupervisorLost
	}
	sc.pending[id] = ch
	sc.mu.Unlock()
	sc.wmu.Lock()
	sc.c.SetWriteDeadline(time.Now().Add(sendTimeout))
	_, err := io.WriteString(sc.c, "start "+id+"\n")
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
		if sc, err = dialSupervisor(r.dir); err == nil {
			r.mu.Lock()
			closed := r.closed
			r.mu.Unlock()
			if closed {
				sc.close()
				return nil, ErrClosed
			}
			r.sup = sc
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
