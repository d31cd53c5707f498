#!/bin/bash
# A Slurm job array that analyses a study in 8 independent parts, without a Dask scheduler.
#   sbatch examples/slurm_array.sh
# Each array task runs shard I of 8 (every 8th input of the sorted list); the shards together cover every input
# exactly once and write to the same --out folder, each with its own manifest-shard-I-of-8.csv. Re-submitting
# the array resumes: inputs whose logs are complete are skipped.
#SBATCH --job-name=fertui-batch
#SBATCH --array=1-8
#SBATCH --cpus-per-task=4
#SBATCH --mem=8G
#SBATCH --time=12:00:00

set -euo pipefail
STUDY=/shared/study          # videos and photo folders, seen at the same path by every node
OUT=/shared/study-logs

fertui batch "$STUDY" --out "$OUT" --shard "${SLURM_ARRAY_TASK_ID}/8" --jobs "${SLURM_CPUS_PER_TASK}"
