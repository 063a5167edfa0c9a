package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// median runs fn n times and returns the median wall time.
func median(n int, fn func()) time.Duration {
	d := make([]time.Duration, n)
	for i := range d {
		start := time.Now()
		fn()
		d[i] = time.Since(start)
	}
	slices.Sort(d)
	return d[n/2]
}

func run(b *testing.B, name string, args ...string) {
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		b.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// fill submits n one-GPU jobs from 16 concurrent clients.
func fill(b *testing.B, c *cluster, n int) {
	cl := c.client()
	var wg sync.WaitGroup
	per := n / 16
	for w := range 16 {
		wg.Go(func() {
			for i := range per {
				_, err := cl.SubmitJob(context.Background(), &gpuqv1.SubmitJobRequest{Spec: &gpuqv1.JobSpec{
					Name: fmt.Sprintf("fill-%d-%d", w, i), Team: "sf", User: "alice", Script: []byte("#!/bin/sh\ntrue\n"),
					Gpus: &gpuqv1.GPURequest{Type: "a100", Count: 1}, Environment: map[string]string{"PATH": "/usr/bin:/bin", "HOME": "/home/alice"},
				}})
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkCtlSubmit is `gpuqctl submit` as a whole process, beside the
// floors of its libraries, measured in the same run and interleaved so that
// the machine's load weighs on each alike: the bare start of a Go program
// that does nothing (testdata/hello), one that only parses submit's flags
// with urfave/cli/v2 (testdata/clifloor), and the least submitting client
// on gpuqctl's stack, urfave/cli/v2 + grpc-go + protobuf-go sending one
// SubmitJob (testdata/grpcfloor). ratio is submit over the bare process,
// ratio-to-stack submit over the least client.
func BenchmarkCtlSubmit(b *testing.B) {
	c := newCluster(b)
	defer c.stop()
	c.start()
	server := "unix://" + c.sock
	args := []string{"submit", "--server", server, "--team", "sf", "--gpus", "a100:1", "--wrap", "true"}
	progs := []struct {
		metric string
		cmd    []string
	}{
		{"ms/bare-go-process-median", []string{"hello"}},
		{"ms/cli-floor-median", append([]string{"clifloor"}, args...)},
		{"ms/stack-floor-median", append([]string{"grpcfloor"}, args...)},
		{"ms/submit-median", append([]string{"gpuqctl", "--server", server}, append([]string{"submit"}, args[3:]...)...)},
	}
	const n = 200
	times := make([][]time.Duration, len(progs))
	for range n {
		for i, p := range progs {
			start := time.Now()
			run(b, filepath.Join(binDir, p.cmd[0]), p.cmd[1:]...)
			times[i] = append(times[i], time.Since(start))
		}
	}
	med := make([]time.Duration, len(progs))
	for i, p := range progs {
		slices.Sort(times[i])
		med[i] = times[i][n/2]
		b.ReportMetric(ms(med[i]), p.metric)
	}
	b.ReportMetric(float64(med[3])/float64(med[0]), "ratio")
	b.ReportMetric(float64(med[3])/float64(med[2]), "ratio-to-stack")
}

// BenchmarkCtlQueue10k is `gpuqctl queue` with 10,000 pending jobs, beside
// `gpuqctl queue` on an empty queue, and a 1,000-task array submitted by
// gpuqctl.
func BenchmarkCtlQueue10k(b *testing.B) {
	c := newCluster(b)
	defer c.stop()
	c.start()
	ctl := filepath.Join(binDir, "gpuqctl")
	server := "unix://" + c.sock
	const n = 30
	empty := median(n, func() { run(b, ctl, "--server", server, "queue") })
	fill(b, c, 10_000)
	full := median(n, func() { run(b, ctl, "--server", server, "queue") })
	array := median(n, func() {
		run(b, ctl, "--server", server, "submit", "--team", "sf", "--array", "0-999%8", "--wrap", "true")
	})
	b.ReportMetric(ms(full), "ms/queue10k-median")
	b.ReportMetric(ms(empty), "ms/queue-empty-median")
	b.ReportMetric(float64(full)/float64(empty), "ratio")
	b.ReportMetric(ms(array), "ms/array1000-submit-median")
}

// BenchmarkRestart100k holds 100,000 queued jobs: the time from starting
// gpuqd again until it answers a ListJobs, and gpuqd's RSS over the minute
// that follows (six scheduling cycles, enough for the heap to go through
// its collections): its peak (VmHWM, since the start: the figure the
// 300 MB target is about), and at the end, anonymous and file-backed.
func BenchmarkRestart100k(b *testing.B) {
	c := newCluster(b)
	defer c.stop()
	c.start()
	fill(b, c, 100_000)
	c.stop()
	start := time.Now()
	c.start()
	cl := c.client()
	res, err := cl.ListJobs(context.Background(), &gpuqv1.ListJobsRequest{Filter: &gpuqv1.JobFilter{Teams: []string{"none"}}})
	if err != nil || len(res.Jobs) != 0 {
		b.Fatal(err)
	}
	restart := time.Since(start)
	pid := c.cmd.Process.Pid
	time.Sleep(2 * time.Second) // the first scheduling cycle
	after := statusKB(b, pid, "VmRSS")
	time.Sleep(time.Minute)
	b.ReportMetric(restart.Seconds(), "s/restart-to-serving")
	b.ReportMetric(float64(after)/1024, "MB-RSS-2s")
	b.ReportMetric(float64(statusKB(b, pid, "VmHWM"))/1024, "MB-RSS-peak")
	b.ReportMetric(float64(statusKB(b, pid, "VmRSS"))/1024, "MB-RSS-end")
	b.ReportMetric(float64(statusKB(b, pid, "RssAnon"))/1024, "MB-RSS-anon-end")
	b.ReportMetric(float64(statusKB(b, pid, "RssFile"))/1024, "MB-RSS-file-end")
}

// statusKB is the field key (VmRSS, RssAnon, RssFile ...) of the process's
// /proc/PID/status, in kB.
func statusKB(b *testing.B, pid int, key string) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return kb
		}
	}
	return 0
}

// BenchmarkJobThroughput pushes trivial jobs through the whole path (submit,
// schedule, start on a gpuq-node with the exec runtime, exit, recorded) and
// reports jobs/s beside two baselines measured in turns in the same run:
// starting /bin/true directly from Go one at a time (ratio), and running
// the same jobs without gpuq (bareJobRate, ratio-to-bare-jobs); medians of
// a few rounds, and the medians of the rounds' ratios. The jobs run as
// user "bench", which the node does not know: it runs them as nobody
// (unknown_user), in a directory and with output nobody can use (the test
// directory is opened to others for the node's state directory under
// it).
func BenchmarkJobThroughput(b *testing.B) {
	c := newCluster(b)
	defer c.stop()
	c.start()
	// nobody must reach the job's script under the node's state directory.
	if err := os.Chmod(c.dir, 0o755); err != nil {
		b.Fatal(err)
	}
	n := c.startNodeWith("n1", "a100-us-west1", "a100:8", rootJobsConfig+"unknown_user: nobody\n")
	defer n.stop()
	waitNodesB(b, c)
	// One job at a time first: the latency of the path when nothing waits.
	one := oneJobLatency(b, c, 20)
	const jobs, rounds = 400, 3
	var rates, polledRates, bares, ratios []float64
	var stages [4][]float64
	var bareJobs, jobRatios []float64
	for round := range rounds {
		bare := bareExecRate(b, jobs)
		bareJob := bareJobRate(b, c.dir, jobs)
		rate, polled, st := jobRate(b, c, fmt.Sprintf("tp-%d", round), jobs)
		rates, bares, ratios = append(rates, rate), append(bares, bare), append(ratios, rate/bare)
		polledRates = append(polledRates, polled)
		bareJobs, jobRatios = append(bareJobs, bareJob), append(jobRatios, rate/bareJob)
		for i := range stages {
			stages[i] = append(stages[i], st[i]...)
		}
		b.Logf("round %d: %.1f jobs/s (%.1f by polling), %.1f bare exec/s, ratio %.2f; %.1f bare jobs/s, ratio %.2f", round, rate, polled, bare, rate/bare, bareJob, rate/bareJob)
	}
	b.ReportMetric(medianOf(rates), "jobs/s")
	b.ReportMetric(medianOf(polledRates), "polled-jobs/s")
	b.ReportMetric(medianOf(bares), "bare-exec/s")
	b.ReportMetric(medianOf(ratios), "ratio")
	b.ReportMetric(medianOf(bareJobs), "bare-jobs/s")
	b.ReportMetric(medianOf(jobRatios), "ratio-to-bare-jobs")
	// Where a job's time goes, medians over every job (a queue: each
	// stage includes its wait behind the jobs ahead).
	for i, name := range stageNames {
		b.ReportMetric(medianOf(stages[i]), "ms/"+name)
	}
	var total []float64
	for i := range one[0] {
		total = append(total, one[0][i]+one[1][i]+one[2][i]+one[3][i])
	}
	b.ReportMetric(medianOf(total), "ms/one-job")
	for i, name := range stageNames {
		b.Logf("one job at a time: %s %.1f ms (median of %d)", name, medianOf(one[i]), len(one[i]))
	}
}

// stageNames name the stages of a job's path that jobStages measures.
var stageNames = []string{"submit-to-assign", "assign-to-start", "start-to-end", "end-to-recorded"}

// oneJobLatency runs n trivial jobs one after the other, each submitted
// when the one before has been recorded, and returns their stages.
func oneJobLatency(b *testing.B, c *cluster, n int) [4][]float64 {
	cl := c.client()
	ctx := context.Background()
	var stages [4][]float64
	for range n {
		res, err := cl.SubmitJob(ctx, &gpuqv1.SubmitJobRequest{Spec: &gpuqv1.JobSpec{
			Name: "one", Team: "sf", User: "bench", Chdir: "/", Output: "/dev/null", Script: []byte("#!/bin/sh\ntrue\n"),
		}})
		if err != nil {
			b.Fatal(err)
		}
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(2 * time.Millisecond) {
			got, err := cl.GetJob(ctx, &gpuqv1.GetJobRequest{Job: &gpuqv1.JobRef{Id: res.JobId}})
			if err != nil {
				b.Fatal(err)
			}
			if len(got.Jobs) != 1 {
				b.Fatalf("job %d: %d records", res.JobId, len(got.Jobs))
			}
			j := got.Jobs[0]
			if j.GetState() == gpuqv1.JobState_JOB_STATE_COMPLETED {
				for i, d := range jobStages(j) {
					stages[i] = append(stages[i], d)
				}
				break
			}
			if time.Now().After(deadline) || j.GetEndTime() != nil {
				b.Fatalf("job %d: %s %s", res.JobId, j.GetState(), j.GetReason())
			}
		}
	}
	return stages
}

// jobStages is how long a job's record says each stage of its path took,
// in milliseconds: submitted to assigned (stored RUNNING; its eligible
// time), assigned to started on the node, started to ended on the node,
// ended to recorded by gpuqd (its update time).
func jobStages(j *gpuqv1.Job) [4]float64 {
	ts := []time.Time{j.SubmitTime.AsTime(), j.EligibleTime.AsTime(), j.StartTime.AsTime(), j.EndTime.AsTime(), j.UpdateTime.AsTime()}
	var out [4]float64
	for i := range out {
		out[i] = ms(ts[i+1].Sub(ts[i]))
	}
	return out
}

// bareExecRate starts /bin/true n times, one after the other, and returns
// the starts per second.
func bareExecRate(b *testing.B, n int) float64 {
	start := time.Now()
	for range n {
		run(b, "/bin/true")
	}
	return float64(n) / time.Since(start).Seconds()
}

// bareJobRate runs the benchmark's job n times without gpuq, as the exec
// runtime runs it but with nothing around it: the same script file
// started from Go 8 at a time (the clients' concurrency), in a process
// group of its own, in /, stdin and output /dev/null, and as nobody when
// the test runs as root (the node runs the jobs as nobody). It returns
// jobs per second: the floor of running these jobs on this machine.
func bareJobRate(b *testing.B, dir string, n int) float64 {
	script := filepath.Join(dir, "bare-job")
	if err := os.WriteFile(script, []byte("#!/bin/sh\ntrue\n"), 0o755); err != nil {
		b.Fatal(err)
	}
	attr := &syscall.SysProcAttr{Setpgid: true}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			b.Fatal(err)
		}
		uid, err := strconv.ParseUint(u.Uid, 10, 32)
		if err != nil {
			b.Fatal(err)
		}
		gid, err := strconv.ParseUint(u.Gid, 10, 32)
		if err != nil {
			b.Fatal(err)
		}
		attr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
	}
	start := time.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range n / 8 {
				cmd := exec.Command(script)
				cmd.Dir, cmd.SysProcAttr, cmd.Env = "/", attr, []string{"PATH=/usr/bin:/bin"}
				if err := cmd.Run(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return float64(8*(n/8)) / time.Since(start).Seconds()
}

// jobRate submits n trivial jobs named name from 8 concurrent clients,
// waits until all have ended and returns jobs per second from the first
// submission to the last end gpuqd recorded (the records' update time;
// the same rate by the time the polling below saw the last end, up to
// its sleep later), and each job's stages (jobStages). Every job must
// complete.
func jobRate(b *testing.B, c *cluster, name string, n int) (rate, polledRate float64, stages [4][]float64) {
	cl := c.client()
	ctx := context.Background()
	start := time.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range n / 8 {
				_, err := cl.SubmitJob(ctx, &gpuqv1.SubmitJobRequest{Spec: &gpuqv1.JobSpec{
					Name: name, Team: "sf", User: "bench", Chdir: "/",
					Output: "/dev/null", Script: []byte("#!/bin/sh\ntrue\n"),
				}})
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	for {
		// Without states ListJobs lists the jobs that have not ended.
		res, err := cl.ListJobs(ctx, &gpuqv1.ListJobsRequest{Filter: &gpuqv1.JobFilter{Names: []string{name}}, View: gpuqv1.JobView_JOB_VIEW_BRIEF})
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Jobs) == 0 {
			break
		}
		if time.Since(start) > 5*time.Minute {
			b.Fatalf("%d of %d jobs still not ended after 5 minutes", len(res.Jobs), n)
		}
		// Look again about when a third of them may have ended (at 50
		// jobs/s or more), but at least every 10 ms near the end: a
		// listing of hundreds of jobs every few milliseconds would cost
		// gpuqd more than the jobs.
		time.Sleep(min(max(time.Duration(len(res.Jobs))*20*time.Millisecond/3, 10*time.Millisecond), 250*time.Millisecond))
	}
	polled := time.Since(start)
	res, err := cl.ListJobs(ctx, &gpuqv1.ListJobsRequest{Filter: &gpuqv1.JobFilter{Names: []string{name}, IncludeEnded: true}})
	if err != nil {
		b.Fatal(err)
	}
	var last time.Time
	for _, j := range res.Jobs {
		if j.State != gpuqv1.JobState_JOB_STATE_COMPLETED {
			b.Fatalf("job %d ended %s: %s", j.Id, j.State, j.Reason)
		}
		if t := j.UpdateTime.AsTime(); t.After(last) {
			last = t
		}
	}
	if len(res.Jobs) != n {
		b.Fatalf("%d jobs recorded, want %d", len(res.Jobs), n)
	}
	for _, j := range res.Jobs {
		for i, d := range jobStages(j) {
			stages[i] = append(stages[i], d)
		}
	}
	// gpuqd's clock is this machine's wall clock (a record's update time
	// is taken as gpuqd begins to store the end, a sync before it is
	// stored): the last record is no later than the poll that saw it,
	// unless the wall clock was set meanwhile, and then the poll counts.
	took := last.Sub(start)
	if took <= 0 || took > polled {
		took = polled
	}
	return float64(n) / took.Seconds(), float64(n) / polled.Seconds(), stages
}

// medianOf is the median of xs (the upper one of an even count).
func medianOf(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func waitNodesB(b *testing.B, c *cluster) {
	cl := c.client()
	for range 200 {
		res, err := cl.ListNodes(context.Background(), &gpuqv1.ListNodesRequest{})
		if err == nil && len(res.Nodes) > 0 && res.Nodes[0].Connected {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Fatal("node did not connect")
}

// BenchmarkNodeAtRest is gpuq-node connected to gpuqd with nothing to run:
// its share of one core over 10 s and its RSS (targets: < 1% and < 50 MB).
func BenchmarkNodeAtRest(b *testing.B) {
	c := newCluster(b)
	defer c.stop()
	c.start()
	n := c.startNode("n1", "a100-us-west1", "a100:8")
	defer n.stop()
	waitNodesB(b, c)
	time.Sleep(2 * time.Second) // start-up is over
	pid := n.cmd.Process.Pid
	t0, c0 := time.Now(), cpuTicks(b, pid)
	time.Sleep(10 * time.Second)
	busy := float64(cpuTicks(b, pid)-c0) / 100 // seconds, at USER_HZ 100
	b.ReportMetric(100*busy/time.Since(t0).Seconds(), "%core")
	b.ReportMetric(float64(statusKB(b, pid, "VmRSS"))/1024, "MB-RSS")
}

// cpuTicks is a process's user plus system time in clock ticks.
func cpuTicks(b *testing.B, pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.Atoi(fields[11])
	stime, _ := strconv.Atoi(fields[12])
	return utime + stime
}
