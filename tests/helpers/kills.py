"""Real kills at an exact point of a writer: `killed_at` runs the writer in a forked copy of the test process and
sends that copy SIGKILL when it reaches the chosen call. Nothing after the point runs (no `finally`, no `except`, no
clean-up), as when a machine loses power or the OOM killer strikes; an exception raised in-process would run them.

A fork costs milliseconds where a fresh process with TensorFlow costs seconds. The copy may use TensorFlow eagerly (the
test process's thread pools are idle when it forks); it is given a time limit and killed if it hangs."""
import os
import signal
import time


class NotKilled(AssertionError):
    pass


def killed_at(module, name, writer, nth=1, where=None, timeout_s=120):
    """Run writer() in a forked copy of this process that is killed (SIGKILL) on its `nth` call of `module.name` (of
    those whose arguments `where(*args, **kwargs)` accepts, when given), before that call runs. Fails if the copy
    finishes, fails or hangs instead. Returns the copy's process id (gone once this returns), which names what it
    left behind (`*.partial-PID`, `*.tmp-PID`)."""
    pid = os.fork()
    if pid == 0:  # the copy: never returns into pytest
        code = 3
        try:
            original, calls = getattr(module, name), []

            def kill_here(*args, **kwargs):
                if where is None or where(*args, **kwargs):
                    calls.append(1)
                    if len(calls) == nth:
                        os.kill(os.getpid(), signal.SIGKILL)
                return original(*args, **kwargs)

            setattr(module, name, kill_here)
            writer()
        except BaseException:
            code = 4
        finally:
            os._exit(code)
    deadline = time.monotonic() + timeout_s
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise NotKilled(f"the forked writer did not reach call {nth} of {name} within {timeout_s} s")
        time.sleep(0.01)
    if not (os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL):
        how = {3: "finished", 4: "raised"}.get(os.WEXITSTATUS(status), f"exited {os.WEXITSTATUS(status)}")
        raise NotKilled(f"the forked writer {how} before its call {nth} of {name}")
    return pid
