"""Plain data and helpers: frames and results, labels, errors, threads, files, paths. Imports nothing of fertui's
above it."""
