#!/bin/bash
#SBATCH --job-name=typo
#SBATCH --time=2:xx:00

python train.py
