package queue

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/job"
	"github.com/gpuq/gpuq/internal/sched"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// NodeState is what gpuqd thinks of a node.
type NodeState int

const (
	NodeUp NodeState = iota + 1
	// NodeDown: missed its heartbeats; its jobs were failed over.
	NodeDown
	// NodeDrain: runs what it has, gets nothing new.
	NodeDrain
)

func (s NodeState) String() string {
	switch s {
	case NodeUp:
		return "UP"
	case NodeDown:
		return "DOWN"
	case NodeDrain:
		return "DRAIN"
	}
	return "UNKNOWN"
}

// sessionBuffer bounds the messages waiting for a node; a node that falls
// this far behind loses its session and re-registers.
const sessionBuffer = 4096

// node is one node daemon as gpuqd knows it. Nodes live in memory only: after
// a restart of gpuqd they register again with the jobs they run.
type node struct {
	info     *gpuqv1.NodeInfo
	gpuType  string
	state    NodeState
	reason   string
	lastSeen time.Time
	session  string
	out      chan *gpuqv1.ControllerMessage // nil while no session is attached
}

// NodeView is a node for listing.
type NodeView struct {
	Info     *gpuqv1.NodeInfo
	State    NodeState
	Reason   string
	LastSeen time.Time
	// Connected: a session stream is attached.
	Connected bool
	// Jobs running on the node, and the GPUs they hold.
	Jobs     []job.Ref
	UsedGPUs int
}

func newSessionID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newAllocationID(r job.Ref, restarts uint32) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s.%d.%s", r, restarts, hex.EncodeToString(b))
}

// RegisterNode admits a node daemon (again). running lists the allocations it
// still runs and finished those that ended while it was away; allocations it
// runs that gpuqd has given to someone else since are returned as fenced:
// the node must kill them. Jobs gpuqd believed running on the node that it
// no longer knows of are failed over.
func (q *Queue) RegisterNode(info *gpuqv1.NodeInfo, running []*gpuqv1.RunningJob, finished []*gpuqv1.JobUpdate) (*gpuqv1.RegisterNodeResponse, error) {
	gpuType, err := q.opts.Rules.validateNode(info)
	if err != nil {
		return nil, err
	}
	if info.Region == "" {
		// A node that names no region is in its pool's.
		info.Region = q.opts.Rules.PoolRegion[info.Pool]
	}
	q.writeMu.Lock()
	defer q.writeMu.Unlock()
	now := q.now()
	var changed []*gpuqv1.Job
	var acks []string
	for _, u := range finished {
		if c := q.finish(info.Name, u, now, q.allocated(u.AllocationId)); c != nil {
			changed = append(changed, c)
		}
		acks = append(acks, u.AllocationId)
	}
	keep := map[string]bool{}
	var fenced []string
	for _, r := range running {
		ref, ok := q.allocs[r.AllocationId]
		j := q.jobs[ref]
		if !ok || j == nil || j.Node != info.Name || job.Ended(j.State) {
			fenced = append(fenced, r.AllocationId)
			continue
		}
		keep[r.AllocationId] = true
	}
	for alloc, ref := range q.allocs {
		j := q.jobs[ref]
		if j.Node == info.Name && !keep[alloc] && !slices.Contains(acks, alloc) {
			changed = append(changed, q.failOver(j, now, "node restarted without the job"))
		}
	}
	if err := q.commitRecords(changed); err != nil {
		return nil, fmt.Errorf("register node %s: %w", info.Name, err)
	}

	q.mu.Lock()
	n := q.nodes[info.Name]
	if n == nil {
		n = &node{state: NodeUp}
		q.nodes[info.Name] = n
	}
	if n.out != nil {
		close(n.out)
		n.out = nil
	}
	if n.state != NodeDrain {
		n.state, n.reason = NodeUp, ""
	}
	n.info, n.gpuType, n.lastSeen, n.session = info, gpuType, now, newSessionID()
	session := n.session
	q.mu.Unlock()
	q.log.Info("node registered", "node", info.Name, "pool", info.Pool, "gpus", len(info.Gpus),
		"running", len(keep), "fenced", len(fenced), "simulated", info.Simulated)
	q.Kick()
	return &gpuqv1.RegisterNodeResponse{
		SessionId:         session,
		HeartbeatInterval: durationpb.New(q.opts.HeartbeatInterval),
		FencedAllocations: fenced,
	}, nil
}

// validateNode checks a registration against the config.
func (r *Rules) validateNode(info *gpuqv1.NodeInfo) (string, error) {
	var bad job.InvalidError
	if info == nil || info.Name == "" {
		bad.Add("node.name", "required")
		return "", bad.Err()
	}
	pt, ok := r.PoolTypes[info.Pool]
	if !ok {
		bad.Add("node.pool", "unknown pool %q", info.Pool)
	}
	for i, g := range info.Gpus {
		if ok && g.Type != pt {
			bad.Add(fmt.Sprintf("node.gpus[%d].type", i), "%s GPU in pool %q of %s GPUs", g.Type, info.Pool, pt)
		}
		if g.Uuid == "" {
			bad.Add(fmt.Sprintf("node.gpus[%d].uuid", i), "required")
		}
	}
	return pt, bad.Err()
}

// AttachSession connects a node's session stream. Messages for the node
// arrive on the returned channel until it is closed (a newer registration,
// or the node going down); detach must be called when the stream ends.
func (q *Queue) AttachSession(name, session string) (<-chan *gpuqv1.ControllerMessage, func(), error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.nodes[name]
	if n == nil || n.session != session {
		return nil, nil, fmt.Errorf("node %s: %w: unknown session; register again", name, job.ErrInvalidState)
	}
	if n.out != nil {
		close(n.out)
	}
	out := make(chan *gpuqv1.ControllerMessage, sessionBuffer)
	n.out = out
	n.lastSeen = q.now()
	// Cancels that could not reach the node while it was away.
	for _, ref := range q.allocs {
		if j := q.jobs[ref]; j.Node == name && j.Reason == reasonCancelling {
			select {
			case out <- stopMessage(j, gpuqv1.StopJob_REASON_CANCEL, q.opts.KillWait):
			default: // the rest go out at the next session
			}
		}
	}
	detach := func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		if n.out == out {
			close(out)
			n.out = nil
		}
	}
	q.Kick()
	return out, detach, nil
}

// Heartbeat records that a node is alive.
func (q *Queue) Heartbeat(name, session string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.nodes[name]
	if n == nil || n.session != session {
		return fmt.Errorf("node %s: %w: unknown session; register again", name, job.ErrInvalidState)
	}
	n.lastSeen = q.now()
	return nil
}

// JobUpdate applies what a node reports of one allocation.
func (q *Queue) JobUpdate(name string, u *gpuqv1.JobUpdate) error {
	return q.JobUpdates(name, []*gpuqv1.JobUpdate{u})
}

// JobUpdates applies what a node reports of its allocations, in the order
// it reported them, in one transaction: a batch of starts and ends costs
// one sync. Ends are acknowledged once stored; a running allocation gpuqd
// does not know is fenced. A change that frees GPUs or requeues a job
// kicks the scheduler.
func (q *Queue) JobUpdates(name string, us []*gpuqv1.JobUpdate) error {
	q.writeMu.Lock()
	defer q.writeMu.Unlock()
	now := q.now()
	var changed []*gpuqv1.Job
	newest := map[job.Ref]int{} // a job's record in changed, when this batch changed it
	var acks []string
	kick := false
	for _, u := range us {
		ref, known := q.allocs[u.AllocationId]
		var cur *gpuqv1.Job
		if known {
			cur = q.jobs[ref]
			if i, ok := newest[ref]; ok {
				cur = changed[i]
			}
		}
		if c := q.finish(name, u, now, cur); c != nil {
			if i, ok := newest[ref]; ok {
				changed[i] = c
			} else {
				newest[ref] = len(changed)
				changed = append(changed, c)
			}
			kick = kick || !active(c)
		} else if !known && !job.Ended(u.State) {
			q.send(name, &gpuqv1.ControllerMessage{Msg: &gpuqv1.ControllerMessage_Stop{Stop: &gpuqv1.StopJob{
				AllocationId: u.AllocationId, Reason: gpuqv1.StopJob_REASON_FENCE, Grace: durationpb.New(0),
			}}})
		}
		if job.Ended(u.State) {
			acks = append(acks, u.AllocationId)
		}
	}
	if err := q.commitRecords(changed); err != nil {
		return fmt.Errorf("job updates from %s: %w", name, err)
	}
	for _, a := range acks {
		q.ack(name, a)
	}
	if kick {
		q.Kick()
	}
	return nil
}

// finish computes the record that follows a node's update of j, the
// record that holds the update's allocation (nil when none does), or nil
// when the update is stale (an allocation gpuqd no longer runs there) or
// changes nothing. The caller holds writeMu.
func (q *Queue) finish(nodeName string, u *gpuqv1.JobUpdate, now time.Time, j *gpuqv1.Job) *gpuqv1.Job {
	if j == nil || !active(j) || j.Node != nodeName || j.AllocationId != u.AllocationId {
		return nil
	}
	ts := timestamppb.New(now)
	c := proto.CloneOf(j)
	c.UpdateTime = ts
	switch u.State {
	case gpuqv1.JobState_JOB_STATE_RUNNING:
		if u.StartTime == nil || proto.Equal(u.StartTime, j.StartTime) {
			return nil
		}
		c.StartTime = u.StartTime
		return c
	case gpuqv1.JobState_JOB_STATE_PREEMPTED:
		if !j.Spec.NoRequeue && j.Reason != reasonCancelling {
			return requeue(c, "Preempted")
		}
	case gpuqv1.JobState_JOB_STATE_NODE_FAIL:
		return q.failOver(j, now, u.Message)
	}
	if !job.Ended(u.State) {
		return nil
	}
	c.State, c.ExitCode, c.ExitSignal, c.EndTime, c.Usage = u.State, u.ExitCode, u.ExitSignal, u.EndTime, u.Usage
	if c.EndTime == nil {
		c.EndTime = ts
	}
	if u.StartTime != nil {
		// The node's start: a job that ended soon after reports it only
		// with its end.
		c.StartTime = u.StartTime
	}
	c.Reason = u.Message
	if j.Reason == reasonCancelling {
		c.State, c.Reason = gpuqv1.JobState_JOB_STATE_CANCELLED, "CancelledByUser"
	}
	return c
}

// allocated is the record that holds an allocation, or nil.
func (q *Queue) allocated(alloc string) *gpuqv1.Job {
	if ref, ok := q.allocs[alloc]; ok {
		return q.jobs[ref]
	}
	return nil
}

// reasonCancelling marks a running job whose cancel was sent to its node.
const reasonCancelling = "Cancelling"

// failOver ends the run of a job whose node was lost: requeued when it
// allows it, else NODE_FAIL (CANCELLED when it was being cancelled).
func (q *Queue) failOver(j *gpuqv1.Job, now time.Time, why string) *gpuqv1.Job {
	ts := timestamppb.New(now)
	c := proto.CloneOf(j)
	c.UpdateTime = ts
	switch {
	case j.Reason == reasonCancelling:
		c.State, c.Reason, c.EndTime = gpuqv1.JobState_JOB_STATE_CANCELLED, "CancelledByUser", ts
	case j.Spec.NoRequeue:
		c.State, c.Reason, c.EndTime = gpuqv1.JobState_JOB_STATE_NODE_FAIL, why, ts
	default:
		return requeue(c, "NodeFail")
	}
	return c
}

// requeue turns c back into a pending job for another run.
func requeue(c *gpuqv1.Job, reason string) *gpuqv1.Job {
	c.State, c.Reason = gpuqv1.JobState_JOB_STATE_PENDING, reason
	c.Restarts++
	c.Node, c.GpuIds, c.AllocationId = "", nil, ""
	c.StartTime, c.EndTime, c.EligibleTime = nil, nil, nil
	c.ExitCode, c.ExitSignal = 0, 0
	return c
}

// send queues a message for a node; a node whose buffer is full loses its
// session and re-registers. The caller holds writeMu.
func (q *Queue) send(name string, m *gpuqv1.ControllerMessage) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.nodes[name]
	if n == nil || n.out == nil {
		return false
	}
	select {
	case n.out <- m:
		return true
	default:
		q.log.Warn("node session fell behind; dropping it", "node", name)
		close(n.out)
		n.out = nil
		return false
	}
}

func (q *Queue) ack(name, alloc string) {
	q.send(name, &gpuqv1.ControllerMessage{Msg: &gpuqv1.ControllerMessage_Ack{Ack: &gpuqv1.JobAck{AllocationId: alloc}}})
}

// checkNodes marks nodes that missed their heartbeats DOWN and fails over
// their jobs.
func (q *Queue) checkNodes() {
	q.writeMu.Lock()
	defer q.writeMu.Unlock()
	now := q.now()
	var lost []string
	q.mu.Lock()
	for name, n := range q.nodes {
		if n.state != NodeDown && now.Sub(n.lastSeen) > q.opts.NodeDownAfter {
			n.state, n.reason = NodeDown, fmt.Sprintf("no heartbeat for %s", now.Sub(n.lastSeen).Round(time.Second))
			if n.out != nil {
				close(n.out)
				n.out = nil
			}
			n.session = ""
			lost = append(lost, name)
		}
	}
	q.mu.Unlock()
	if len(lost) == 0 {
		return
	}
	var changed []*gpuqv1.Job
	for _, ref := range q.allocs {
		if j := q.jobs[ref]; slices.Contains(lost, j.Node) {
			changed = append(changed, q.failOver(j, now, "NodeFail"))
		}
	}
	if err := q.commitRecords(changed); err != nil {
		q.log.Error("fail over jobs of lost nodes", "nodes", lost, "err", err)
		return
	}
	q.log.Warn("nodes down", "nodes", lost, "jobs", len(changed))
}

// Nodes lists the nodes by name.
func (q *Queue) Nodes() []NodeView {
	q.mu.RLock()
	defer q.mu.RUnlock()
	jobs := map[string][]job.Ref{}
	used := map[string]int{}
	for _, ref := range q.allocs {
		j := q.jobs[ref]
		jobs[j.Node] = append(jobs[j.Node], ref)
		used[j.Node] += len(j.GpuIds)
	}
	out := make([]NodeView, 0, len(q.nodes))
	for name, n := range q.nodes {
		refs := jobs[name]
		slices.SortFunc(refs, job.Ref.Compare)
		out = append(out, NodeView{Info: n.info, State: n.state, Reason: n.reason, LastSeen: n.lastSeen,
			Connected: n.out != nil, Jobs: refs, UsedGPUs: used[name]})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Info.Name < out[b].Info.Name })
	return out
}

// SetNodeState drains (NodeDrain) or resumes (NodeUp) a node.
func (q *Queue) SetNodeState(name string, s NodeState, reason string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.nodes[name]
	if n == nil {
		return fmt.Errorf("node %s: %w", name, job.ErrNotFound)
	}
	if n.state == NodeDown && s == NodeUp {
		return fmt.Errorf("node %s: %w: it is DOWN; it comes back when its daemon registers", name, job.ErrInvalidState)
	}
	n.state, n.reason = s, reason
	q.Kick()
	return nil
}

// schedNodes lists the nodes that can take jobs now, with their free GPUs.
// The caller holds mu (read).
func (q *Queue) schedNodes() []sched.Node {
	used := map[string]bool{}
	for _, ref := range q.allocs {
		for _, g := range q.jobs[ref].GpuIds {
			used[g] = true
		}
	}
	var out []sched.Node
	for name, n := range q.nodes {
		if n.state != NodeUp || n.out == nil {
			continue
		}
		sn := sched.Node{Name: name, Pool: n.info.Pool, GPUType: n.gpuType, Region: n.info.Region, Total: len(n.info.Gpus)}
		if r, ok := q.opts.Rules.PoolRegion[n.info.Pool]; ok && r != "" {
			sn.Region = r
		}
		for _, g := range n.info.Gpus {
			if !used[g.Uuid] {
				sn.Free = append(sn.Free, g.Uuid)
			}
		}
		out = append(out, sn)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}
