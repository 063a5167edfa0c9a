#!/bin/bash
#SBATCH -J bert-pretrain
#SBATCH -A nlp
#SBATCH -p gpu
#SBATCH --gres=gpu:v100:4
#SBATCH -t 2-00:00:00
#SBATCH -N 1
#SBATCH --ntasks-per-node=4
#SBATCH --cpus-per-task=8
#SBATCH --mem=0
#SBATCH -o slurm-%j.out
#SBATCH --mail-type=END,FAIL
#SBATCH --mail-user=ada@example.org
#SBATCH --qos=normal

module load cuda/12.4
srun python -m torch.distributed.run --nproc_per_node=4 pretrain.py --config bert-base.yaml
