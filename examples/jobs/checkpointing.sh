#!/bin/bash
# A job that outlives its time limit: at the limit it gets SIGTERM (or the
# signal --signal asks for), saves its step in $GPUQ_CHECKPOINT_DIR and
# exits within the grace period. Requeued (after preemption or a node
# failure), the same job resumes there: the directory is kept per job id.
#GPUQ --team=berlin
#GPUQ --job-name=resumable
#GPUQ --gpus=a100:1
#GPUQ --time=0:05

ckpt="${GPUQ_CHECKPOINT_DIR:-/tmp}/step"
step=$(cat "$ckpt" 2>/dev/null || echo 0)
echo "run ${GPUQ_RESTART_COUNT:-0}: resuming at step $step"
trap 'echo "$step" > "$ckpt"; echo "signalled at step $step: checkpoint saved"; exit 0' TERM USR1
while true; do
  step=$((step + 1))
  sleep 1
done
