#!/bin/bash
# Fine-tune ResNet-50 on two A100s.
#GPUQ --job-name=resnet50-finetune
#GPUQ --team=vision
#GPUQ --gpus=a100:2 --cpus-per-task=16 --mem=64G
#GPUQ --time=8:00:00
#GPUQ --output=logs/%x-%j.out --error=logs/%x-%j.err
#GPUQ --image=localhost/pytorch:2.4
#GPUQ --signal=USR1@300     # checkpoint five minutes before the limit
#GPUQ --export=ALL,WANDB_MODE=offline

set -euo pipefail
python train.py --arch resnet50 --epochs 90 --resume-from checkpoints/latest.pt
