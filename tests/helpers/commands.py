"""Run an imgtf command in this process, as its console script would run it, and read what it printed."""
import contextlib
import dataclasses
import importlib
import io


@dataclasses.dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def command(name, *args, expect=0):
    """imgtf-<name> with these arguments (`imgtf.commands.<name>.main`); asserts its exit status is `expect` (None:
    any) and returns its status and output."""
    module = importlib.import_module(f"imgtf.commands.{name}")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = module.main([str(arg) for arg in args])
    result = Result(code, out.getvalue(), err.getvalue())
    if expect is not None:
        assert code == expect, f"imgtf-{name} exited {code}:\n{result.stderr[-3000:]}"
    return result
