"""Workers: claim loop, leases and heartbeats."""

from daytwo.worker._worker import Worker

__all__ = ["Worker"]
