"""Stopping on SIGTERM (preemption, a cluster's job end): training finishes its current step, saves and stops, so
rerunning the same command resumes it."""
import logging
import signal
import threading

log = logging.getLogger("imgtf")


class StopOnSigterm:
    """Context manager: while it is open, SIGTERM is noted in `.signal` instead of ending the process; the previous
    handler comes back when it closes. Outside the main thread (where Python cannot install handlers) it does
    nothing."""

    def __init__(self):
        self.signal, self._previous = None, None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._note)
        return self

    def _note(self, signum, frame):
        self.signal = signum
        log.warning("received signal %d: saving a checkpoint after this step, then stopping.", signum)

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
        return False
