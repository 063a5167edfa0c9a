#!/bin/bash
# Berlin: an unchanged Slurm script. #SBATCH lines use Slurm's spellings;
# gpuq takes --account as the team and warns about what it cannot honour.
#SBATCH --account=berlin
#SBATCH -J eval-suite
#SBATCH --gres=gpu:a100:2
#SBATCH -t 45
#SBATCH -o eval-%j.out
#SBATCH --mail-user=ops@example.org

echo "evaluating on GPUs ${CUDA_VISIBLE_DEVICES:-none}"
sleep 8
