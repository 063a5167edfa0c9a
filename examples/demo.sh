#!/usr/bin/env bash
# make demo: a small cluster on this machine: gpuqd with the three-team
# example config and three gpuq-node daemons with simulated GPUs (the exec
# runtime: jobs are processes). Jobs from San Francisco, Berlin and Tokyo
# run; the queue and the nodes are shown while they do. Leaves nothing
# running; everything lives in a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
BIN=${BIN:-$repo/bin}
work=$(mktemp -d /tmp/gpuq-demo.XXXXXX)
sock="$work/gpuqd.sock"
export GPUQ_SERVER="unix://$sock"
pids=()

cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	# Jobs outlive gpuq-node by design (a restart must not kill them): end
	# whatever the demo left running.
	pkill -f "$work/node-" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
ctl() { "$BIN/gpuqctl" "$@"; }
start_gpuqd() {
	"$BIN/gpuqd" --config "$repo/examples/gpuqd.yaml" --data-dir "$work/data" --socket "$sock" --listen 127.0.0.1:0 \
		>>"$work/gpuqd.log" 2>&1 &
	gpuqd_pid=$!
	pids+=("$gpuqd_pid")
	for _ in $(seq 100); do ctl queue >/dev/null 2>&1 && return; sleep 0.05; done
	cat "$work/gpuqd.log"; exit 1
}
# Jobs run as their submitting user: this one. gpuq-node refuses root's
# jobs unless allow_root is set, so a demo run as root sets it; not as
# root, gpuq-node runs every job as itself and the key changes nothing.
printf 'allow_root: true\n' >"$work/node.yaml"
start_node() { # name pool region gpus
	"$BIN/gpuq-node" --config "$work/node.yaml" --server "$GPUQ_SERVER" --name "$1" --pool "$2" --region "$3" --simulate-gpus "$4" \
		--runtime exec --state-dir "$work/node-$1" >>"$work/node-$1.log" 2>&1 &
	pids+=("$!")
}
wait_idle() { # until no job is pending or running, at most $1 seconds
	for _ in $(seq $(($1 * 5))); do
		[[ -z "$(ctl queue -h --format %i)" ]] && return
		sleep 0.2
	done
}

step "start gpuqd (examples/gpuqd.yaml) and three nodes with simulated GPUs"
start_gpuqd
start_node sf-a100-1 a100-us-west1 us-west1 a100:8
start_node fra-a100-1 a100-europe-west3 europe-west3 a100:8
start_node iad-a800-1 a800-us-east1 us-east1 a800:4
sleep 1
run ctl nodes || true

cd "$work" # jobs write their output next to where they were submitted
jobs_dir="$repo/examples/jobs"
step "San Francisco submits a training run (#GPUQ directives)"
run ctl submit "$jobs_dir/sf-train.sh"
step "Berlin submits an unchanged Slurm script (#SBATCH lines; --mail-user is warned about)"
run ctl submit "$jobs_dir/berlin-eval.sh"
step "Tokyo submits a 16-task sweep on A800s, 4 at a time, and a report that waits for it"
sweep=$(ctl submit --parsable "$jobs_dir/tokyo-sweep.sh")
echo "sweep is job $sweep"
run ctl submit --dependency="afterok:$sweep" "$jobs_dir/tokyo-report.sh"
step "Berlin submits a job that reaches its 5 s time limit and checkpoints on the signal"
run ctl submit "$jobs_dir/checkpointing.sh"
step "San Francisco holds an 8-GPU job for later"
held=$(ctl submit --parsable --hold --team=sf --gpus=a100:8 -J nightly --wrap 'echo nightly run')
echo "held job $held"
step "bad input is refused with the field named, nothing stored"
run ctl submit --team=paris --wrap true || true
run ctl submit --team=sf --gpus=a100:16 --wrap true || true

sleep 2
step "the queue while jobs run (pending jobs say why)"
run ctl queue
step "the nodes"
run ctl nodes || true
step "fair share and the time-zone factor (InHours is 1 for a team inside its working hours now)"
run ctl share
step "scontrol-style detail of a sweep task"
run ctl show job "${sweep}_0"

step "gpuqd is killed with -9 and restarted: running jobs go on, the queue is intact"
kill -9 "$gpuqd_pid"; wait "$gpuqd_pid" 2>/dev/null || true
start_gpuqd
sleep 1
run ctl queue

step "release the held job; wait for everything to finish"
run ctl release "$held"
wait_idle 90
run ctl queue --state all --format '%.8i %.8a %.14j %.10T %.8M %.12N'
step "what the jobs wrote"
for f in "$work"/logs/*.out "$work"/eval-*.out "$work/gpuq-${sweep}_0.out" "$work/gpuq-${sweep}_15.out" \
	"$work"/gpuq-[0-9].out; do
	[[ -f "$f" ]] || continue
	printf -- '--- %s\n' "${f#"$work"/}"; tail -n 3 "$f"
done

step "accounting: one record per run (sacct-style)"
run ctl acct --starttime now-1hour --format JobID,JobName,Team,State,ExitCode,Elapsed,AllocGPUs,GPUType,GPUHours,Cost
step "the cost split this month (chargeback at each team's rate: SF 3.50, Berlin 3.20, Tokyo 3.80 per GPU-hour)"
run ctl cost --month "$(date -u +%Y-%m)"
run ctl budget

step "make sim runs 72 simulated hours through the scheduler; not yet: the utilization chart and budget limits (#5), authentication (#6)"
