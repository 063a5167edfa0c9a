#!/bin/bash
# San Francisco: a 4-GPU training run that checkpoints when told to stop.
#GPUQ --team=sf
#GPUQ --job-name=llm-finetune
#GPUQ --gpus=a100:4
#GPUQ --time=2:00:00
#GPUQ --signal=USR1@300
#GPUQ --output=logs/%x-%j.out

ckpt=${GPUQ_CHECKPOINT_DIR:-/tmp}/step
trap 'echo "checkpointing at step $(cat "$ckpt" 2>/dev/null)"; exit 0' USR1 TERM
step=$(cat "$ckpt" 2>/dev/null || echo 0)
while [ "$step" -lt 20 ]; do
  step=$((step + 1)); echo "$step" > "$ckpt"
  sleep 1
done
echo "done after $step steps"
