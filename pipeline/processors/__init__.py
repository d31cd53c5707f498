"""Pipeline stages. Each implements Processor; the runner holds a list of them and knows nothing else."""

from pipeline.processors.base import Processor

__all__ = ["Processor"]
