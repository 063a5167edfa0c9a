#!/bin/bash
# Evaluate once training (1234) and the last shard of preprocessing (1230_7)
# succeeded; only one evaluation at a time.
#SBATCH --dependency=afterok:1234:1230_7,singleton
#SBATCH --job-name=evaluate
#SBATCH --gpus=a100:1 --time=30:00
#SBATCH --begin=now+1hour
#SBATCH --nice=50 --hold
#SBATCH --export=NONE
#SBATCH --no-requeue

python evaluate.py --checkpoint checkpoints/final.pt
