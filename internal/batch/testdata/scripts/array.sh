#!/bin/sh
# A hyper-parameter sweep: 16 runs, at most 4 at a time, one GPU each.
#SBATCH --array=0-15%4
#SBATCH --gpus=1
#SBATCH --time=45
#SBATCH --job-name=sweep
#SBATCH --output=sweep/%A_%a.out
#SBATCH --requeue

python sweep.py --trial "$SLURM_ARRAY_TASK_ID"
