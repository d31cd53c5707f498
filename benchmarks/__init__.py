"""Scripts that measure fertui and print one JSON object each; run them as `uv run python -m benchmarks.NAME`."""
