"""Analyse a study on a Slurm cluster: dask-jobqueue starts Dask workers as batch jobs, `fertui batch` submits
one task per input to them. PBS and SGE work the same way with PBSCluster or SGECluster.

    pip install 'fertui[dask]' dask-jobqueue
    python examples/dask_jobqueue.py /shared/study /shared/study-logs

Inputs and the output folder must be on a filesystem every node sees at the same path. Edit the queue, cores,
memory and walltime for your cluster. Running the script again resumes: complete logs are skipped.
"""

from __future__ import annotations

import subprocess
import sys

from dask_jobqueue import SLURMCluster


def main() -> int:
    study, out = sys.argv[1], sys.argv[2]
    cluster = SLURMCluster(
        queue="normal",
        cores=4,  # one job's cores...
        processes=2,  # ...split into 2 worker processes of 2 threads' worth each
        memory="8GB",
        walltime="04:00:00",
        worker_extra_args=["--nthreads", "1"],  # one task at a time per worker process
    )
    cluster.scale(jobs=8)  # 16 worker processes; cluster.adapt(maximum_jobs=8) grows and shrinks with the work
    try:
        return subprocess.call(
            ["fertui", "batch", study, "--out", out, "--executor", "dask", "--scheduler", cluster.scheduler_address]
        )
    finally:
        cluster.close()


if __name__ == "__main__":
    sys.exit(main())
