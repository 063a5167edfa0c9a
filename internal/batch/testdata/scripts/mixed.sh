#!/bin/bash
# Shared with a Slurm cluster: #SBATCH lines for Slurm, #GPUQ lines for gpuq.
#GPUQ --gpus=h100:2 --pool=h100 --image=localhost/jax:0.4
#SBATCH --gres=gpu:a100:4 --partition=gpu,gpu-long
#SBATCH -t 12:00:00 -c 4 -HJ jax-train --constraint=a100 --exclusive
#SBATCH --frobnicate yes
#GPUQ --time=6:00:00

python train_jax.py
