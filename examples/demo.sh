#!/usr/bin/env bash
# make demo: start gpuqd with the three-team example config in a temporary
# directory, submit jobs from San Francisco, Berlin and Tokyo, and show the
# queue. Leaves nothing running.
#
# The node daemon (gpuq-node, issue #3) does not exist yet, so no job runs:
# every job stays PENDING with the reason the scheduler gives.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
work=$(mktemp -d /tmp/gpuq-demo.XXXXXX)
sock="$work/gpuqd.sock"
export GPUQ_SERVER="unix://$sock"

cleanup() {
	if [[ -n "${gpuqd_pid:-}" ]] && kill -0 "$gpuqd_pid" 2>/dev/null; then
		kill "$gpuqd_pid" && wait "$gpuqd_pid" || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "start gpuqd (examples/gpuqd.yaml, state in $work)"
"$BIN/gpuqd" --config examples/gpuqd.yaml --data-dir "$work/data" --socket "$sock" --listen 127.0.0.1:0 \
	>"$work/gpuqd.log" 2>&1 &
gpuqd_pid=$!
for _ in $(seq 100); do [[ -S "$sock" ]] && break; sleep 0.05; done
[[ -S "$sock" ]] || { cat "$work/gpuqd.log"; exit 1; }
run "$BIN/gpuqctl" --version 2>/dev/null || true

step "San Francisco submits a training run (#GPUQ directives)"
run "$BIN/gpuqctl" submit examples/jobs/sf-train.sh
step "Berlin submits an unchanged Slurm script (#SBATCH lines, with a warning for --mail-user)"
run "$BIN/gpuqctl" submit examples/jobs/berlin-eval.sh
step "Tokyo submits a 16-task sweep, 4 at a time, and a report that waits for it"
sweep=$("$BIN/gpuqctl" submit --parsable examples/jobs/tokyo-sweep.sh)
echo "sweep is job $sweep"
run "$BIN/gpuqctl" submit --dependency="afterok:$sweep" examples/jobs/tokyo-report.sh
step "Berlin holds a job for later; San Francisco submits a one-liner with --wrap"
held=$("$BIN/gpuqctl" submit --parsable --hold --team=berlin --gpus=a100:8 -J nightly --wrap 'python train.py')
run "$BIN/gpuqctl" submit --team=sf --gpus=a800:1 -t 10 --wrap 'nvidia-smi'

step "bad input is refused with the field named"
run "$BIN/gpuqctl" submit --team=paris --wrap true || true
run "$BIN/gpuqctl" submit --team=sf --gpus=a100:16 --wrap true || true

sleep 1.2 # one scheduling cycle gives every pending job its reason
step "the queue (no node daemon yet: pending jobs say why)"
run "$BIN/gpuqctl" queue
step "one team, every array task"
run "$BIN/gpuqctl" queue --team tokyo -r --format '%.10i %.12j %.8T %.6b %R'
step "scontrol-style detail"
run "$BIN/gpuqctl" show job "$sweep"_0

step "release the held job, cancel part of the sweep (the report's dependency can no longer be met)"
run "$BIN/gpuqctl" release "$held"
run "$BIN/gpuqctl" cancel "${sweep}_[12-15]"
sleep 1.2
run "$BIN/gpuqctl" queue --state all

step "gpuqd survives kill -9 with every acknowledged job"
kill -9 "$gpuqd_pid"; wait "$gpuqd_pid" 2>/dev/null || true
"$BIN/gpuqd" --config examples/gpuqd.yaml --data-dir "$work/data" --socket "$sock" --listen 127.0.0.1:0 \
	>>"$work/gpuqd.log" 2>&1 &
gpuqd_pid=$!
for _ in $(seq 100); do "$BIN/gpuqctl" queue >/dev/null 2>&1 && break; sleep 0.05; done
run "$BIN/gpuqctl" queue --state all --format '%.8i %.10a %.14j %.10T'

step "not yet: running jobs (issue #3), the time-zone scheduler (#4), the cost split (#5)"
