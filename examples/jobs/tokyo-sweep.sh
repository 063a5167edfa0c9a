#!/bin/sh
# Tokyo: a hyper-parameter sweep as a job array, at most 4 tasks at once.
#GPUQ --team=tokyo
#GPUQ --job-name=sweep
#GPUQ --gpus=a800:1
#GPUQ --array=0-15%4
#GPUQ --time=30:00

lr=$(echo "0.001 0.003 0.01 0.03" | cut -d' ' -f$(( (${GPUQ_ARRAY_TASK_ID:-0} % 4) + 1 )))
echo "task ${GPUQ_ARRAY_TASK_ID:-0}: learning rate $lr"
sleep 3
