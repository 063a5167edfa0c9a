#!/usr/bin/env bash
# make demo: a small cluster on this machine: gpuqd with the three-team
# example config and three gpuq-node daemons with simulated GPUs; jobs run
# as processes (the exec runtime), and one node's in containers of a
# private containerd when this machine can run one. Jobs from San
# Francisco, Berlin and Tokyo run; the queue and the nodes are shown while
# they do. Leaves nothing running; everything lives in a temporary
# directory.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
BIN=${BIN:-$repo/bin}
work=$(mktemp -d /tmp/gpuq-demo.XXXXXX)
sock="$work/gpuqd.sock"
export GPUQ_SERVER="unix://$sock"
pids=()

cleanup() {
	[[ -n ${work:-} ]] || return 0
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	# Jobs outlive gpuq-node by design (a restart must not kill them): end
	# whatever the demo left running.
	pkill -f "$work/node-" 2>/dev/null || true
	pkill -f "$work/ctrd" 2>/dev/null || true
	# Leave nothing running: give them 5 s to end, then kill what is left.
	for _ in $(seq 50); do
		pgrep -f "$work/" >/dev/null || break
		sleep 0.1
	done
	pkill -9 -f "$work/" 2>/dev/null || true
	# Mounts a private containerd left (none once its tasks are deleted).
	grep -o " $work/[^ ]*" /proc/mounts 2>/dev/null | sort -r | xargs -r umount -l 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
ctl() { "$BIN/gpuqctl" "$@"; }
listen=127.0.0.1:0 # the first start picks a free port; restarts keep it
start_gpuqd() {
	"$BIN/gpuqd" --config "$repo/examples/gpuqd.yaml" --data-dir "$work/data" --socket "$sock" --listen "$listen" \
		>>"$work/gpuqd.log" 2>&1 &
	gpuqd_pid=$!
	pids+=("$gpuqd_pid")
	for _ in $(seq 100); do
		if ctl queue >/dev/null 2>&1; then
			listen=$(sed -n 's/.*network=tcp addr=\([0-9.:]*\).*/\1/p' "$work/gpuqd.log" | tail -n 1)
			return
		fi
		sleep 0.05
	done
	cat "$work/gpuqd.log"; exit 1
}
# Jobs run as their submitting user: this one. gpuq-node refuses root's
# jobs unless allow_root is set, so a demo run as root sets it, and runs the
# jobs of the demo's made-up users (alice) as nobody; not as root,
# gpuq-node runs every job as itself and the keys change nothing.
printf 'allow_root: true\nunknown_user: nobody\nruntime:\n  kind: exec\n' >"$work/node.yaml"
start_node() { # name pool region gpus server [config]: joins with the join token once, then uses its certificate
	"$BIN/gpuq-node" --config "${6:-$work/node.yaml}" --server "$5" --name "$1" --pool "$2" --region "$3" --simulate-gpus "$4" \
		--state-dir "$work/node-$1" --join-token-file "$work/data/tls/join-token" \
		>>"$work/node-$1.log" 2>&1 &
	pids+=("$!")
}
# start_containerd starts a private containerd (its own config, root, state
# and socket under $work) and imports a small busybox image built here (no
# registry is needed), when this machine can: root, containerd, runc and a
# static tini and busybox. It says why not otherwise; the demo then runs
# every job as a process (the exec runtime).
ctrd=""
start_containerd() {
	local why=""
	[[ $(id -u) == 0 ]] || why="not root"
	for b in containerd runc containerd-shim-runc-v2 ctr; do
		[[ -n $why ]] || command -v "$b" >/dev/null || why="$b not installed"
	done
	[[ -n $why || ( -x /usr/bin/tini-static && -x /usr/bin/busybox ) ]] || why="tini-static or busybox not installed"
	if [[ -n $why ]]; then
		echo "no containerd for the demo ($why): every node runs jobs as processes"
		return 0
	fi
	local d="$work/ctrd"
	mkdir -p "$d"
	cat >"$d/config.toml" <<-EOF
	version = 2
	root = "$d/root"
	state = "$d/state"
	disabled_plugins = ["io.containerd.grpc.v1.cri"]
	[grpc]
	  address = "$d/c.sock"
	[ttrpc]
	  address = "$d/c.sock.ttrpc"
	[plugins."io.containerd.internal.v1.opt"]
	  path = "$d/opt"
	EOF
	containerd --config "$d/config.toml" >>"$work/containerd.log" 2>&1 &
	pids+=("$!")
	for _ in $(seq 100); do ctr -a "$d/c.sock" version >/dev/null 2>&1 && break; sleep 0.1; done
	if ! go build -o "$d/mkimage" ./internal/ctrdrun/ctrdtest/mkimage ||
		! "$d/mkimage" -ref localhost/gpuq-demo:1 >"$d/image.tar" ||
		! ctr -a "$d/c.sock" -n gpuq images import "$d/image.tar" >/dev/null; then
		echo "the private containerd did not come up (see $work/containerd.log): every node runs jobs as processes"
		return 0
	fi
	printf 'allow_root: true\nunknown_user: nobody\nruntime:\n  kind: containerd\n  containerd_address: %s\n  namespace: gpuq\n  image: localhost/gpuq-demo:1\n' \
		"$d/c.sock" >"$work/node-ctrd.yaml"
	ctrd="$work/node-ctrd.yaml"
	echo "a private containerd runs iad-a800-1's jobs in containers (image localhost/gpuq-demo:1, imported without a registry)"
}
wait_idle() { # until no job is pending or running, at most $1 seconds
	for _ in $(seq $(($1 * 5))); do
		[[ -z "$(ctl queue -h --format %i)" ]] && return
		sleep 0.2
	done
}

step "gpuqd init: a CA, gpuqd's TLS certificate, the token key and the node join token (secret shortened here)"
"$BIN/gpuqd" --config "$repo/examples/gpuqd.yaml" --data-dir "$work/data" --socket "$sock" init |
	sed -E 's/(gpuqjoin_.{6})[^ ]*/\1.../'
step "start gpuqd (examples/gpuqd.yaml; TLS on TCP, the unix socket for local operators) and three nodes"
start_gpuqd
echo "gpuqd serves TLS on $listen; two nodes join over TLS with the join token, one over the unix socket"
start_node sf-a100-1 a100-us-west1 us-west1 a100:8 "$listen"
start_node fra-a100-1 a100-europe-west3 europe-west3 a100:8 "$listen"
start_containerd
start_node iad-a800-1 a800-us-east1 us-east1 a800:4 "$GPUQ_SERVER" "${ctrd:-}"
sleep 1.5
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

step "who may do what: the operator (you, on the unix socket) issues tokens; users log in over TLS"
run ctl whoami
ctl token create --user alice --team sf --ttl 8h >"$work/alice.token"
ctl token create --user kenji --team tokyo --ttl 8h >"$work/kenji.token"
as_user() { # user command...: gpuqctl over TCP with TLS, with the user's own credentials file
	local u=$1; shift
	GPUQ_SERVER="$listen" GPUQ_CREDENTIALS="$work/$u.credentials" "$BIN/gpuqctl" "$@"
}
printf '$ gpuqctl login < alice.token   (as alice)\n'; as_user alice login --token-file "$work/alice.token"
as_user kenji login --token-file "$work/kenji.token" >/dev/null
printf '$ gpuqctl whoami   (as alice)\n'; as_user alice whoami
printf '$ gpuqctl submit --gpus a100:1 --wrap "sleep 1"   (as alice)\n'
mkdir -m 1777 "$work/alice"; chmod 711 "$work" # her job may run as nobody: it writes its output there
alice_job=$(as_user alice submit --parsable --gpus a100:1 -J alice-job -D "$work/alice" --wrap 'sleep 1')
echo "$alice_job"
printf '$ gpuqctl cancel %s   (as kenji, of team tokyo)\n' "$alice_job"
as_user kenji cancel "$alice_job" || true
printf '$ gpuqctl acct --team sf   (as kenji)\n'; as_user kenji acct --team sf || true
printf '$ gpuqctl submit --team sf --wrap true   (as kenji)\n'; as_user kenji submit --team sf --wrap true || true
run ctl token list
step "the audit log records every refusal and change (names and token ids, never secrets)"
tail -n 4 "$work/data/audit.log"

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
step "how GPU-hours pass between the teams over the day (here: the demo's last hour; make sim shows 72 hours)"
run ctl report utilization --by team --per hour -S now-1hour -E now+1hour --svg "$BIN/utilization-demo.svg"
echo "(the same as an SVG chart: $BIN/utilization-demo.svg)"

step "make sim runs 72 simulated hours through the scheduler; docs/SECURITY.md describes who may do what"
