"""`fertui summarize`: session logs to one table of participants, conditions and face tracks.

One module per job: `events` (the events file beside a log, and the windows it makes), `study` (which logs, and
whose), `logs` (a log read in bounded chunks), `accumulate` (one pass over a log into time-weighted sums),
`table` (the rows, the baseline and the file), `figure` (the picture). Nothing here imports Textual.
"""
