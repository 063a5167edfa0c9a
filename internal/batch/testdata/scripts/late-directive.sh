#!/bin/bash
#SBATCH --time=1:00:00
#SBATCH --gpus=2

# Everything below the first command is the job's, not gpuq's.
cd "$HOME/project"
#SBATCH --time=99:00:00
#SBATCH --gpus=8
#GPUQ --hold
python train.py
