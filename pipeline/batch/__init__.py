"""`fertui batch`: a corpus of videos and photo folders, one session per input, resumable, on local processes or
an existing Dask cluster.

- inputs:    what the command line names (files, folders, @lists) as inputs, their log names, the shard split
- task:      one input = one session with a file source and a log, written under a temporary name, renamed when
             complete; the sidecar's `batch` fingerprint says whether a later run can skip it
- manifest:  DIR/manifest.csv, one row per input, rewritten as each task ends
- executors: where tasks run: a local process pool, or dask.distributed
"""
