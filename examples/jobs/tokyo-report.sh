#!/bin/sh
# Tokyo: summarise the sweep once every task of it succeeded.
# Submit with: gpuqctl submit --dependency=afterok:<sweep id> tokyo-report.sh
#GPUQ --team=tokyo
#GPUQ --job-name=sweep-report
#GPUQ --time=10:00

echo "all sweep tasks finished"
