"""Progress of long loops (evaluation, datagen, decoding): done/total, items per second and time left.

On a terminal the line is rewritten in place; in a log (not a terminal) a line is written at most every
`interval` seconds, so a full split shows steady progress without flooding the log.
"""
import logging
import sys
import time

log = logging.getLogger("imgtf")


def _duration(seconds):
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class Progress:
    """`with Progress("eval test", total=10000, unit="images") as bar: ... bar.update(n)`; total may be None."""

    def __init__(self, label, total=None, unit="images", interval=10.0, stream=None):
        self.label, self.total, self.unit, self.interval = label, total, unit, interval
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.done, self.start, self.last_shown = 0, time.time(), 0.0

    def line(self):
        elapsed = max(time.time() - self.start, 1e-9)
        rate = self.done / elapsed
        text = f"{self.label}: {self.done}"
        if self.total:
            text += f"/{self.total} {self.unit} ({100.0 * self.done / self.total:.0f}%)"
            left = (self.total - self.done) / rate if rate > 0 else 0.0
            text += f" | {rate:.1f} {self.unit}/s | ETA {_duration(max(left, 0.0))}"
        else:
            text += f" {self.unit} | {rate:.1f} {self.unit}/s | {_duration(elapsed)} elapsed"
        return text

    def update(self, count=1):
        self.done += count
        now = time.time()
        if self.tty and now - self.last_shown >= 0.2:
            self.stream.write("\r" + self.line() + "\x1b[K")
            self.stream.flush()
            self.last_shown = now
        elif not self.tty and now - self.last_shown >= self.interval:
            log.info("%s", self.line())
            self.last_shown = now

    def close(self, failed=False):
        if self.tty:
            self.stream.write("\r" + self.line() + ("  (stopped)" if failed else "") + "\x1b[K\n")
            self.stream.flush()
        elif self.done:
            log.info("%s (%s after %s)", self.line(), "stopped" if failed else "done",
                     _duration(time.time() - self.start))

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, traceback):
        self.close(failed=exc_type is not None)
        return False
