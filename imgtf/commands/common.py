"""What every imgtf command shares: its own flag values, logging, clear errors, and two ways in.

Each command module defines `define_flags(flag_values)` and `run(flags) -> int | None`, and exposes
`main(argv) -> int` (callable in-process: tests and scripts call it and read its output) and `run_main()` (the
console script, the only place that ends the process).
"""
import contextlib
import logging
import os
import re
import sys
import traceback

from absl import flags

HELP_FLAGS = ("--help", "-h", "--helpfull", "--helpshort", "-?")


class UsageError(Exception):
    """A command line that cannot run as given (a missing or contradictory flag)."""


def require_one_source(args):
    """A command that reads a trained model takes it from --output_dir (a run) or --preset, exactly one."""
    if bool(args.output_dir) == bool(args.preset):
        raise UsageError("name the trained model with exactly one of --output_dir=RUN (a run directory) and "
                         "--preset=NAME_OR_DIR_OR_HANDLE (e.g. --preset=pixelcnn_binarized_mnist)"
                         + ("; got both." if args.output_dir else "."))
    if args.preset and getattr(args, "checkpoint_path", None):
        raise UsageError("--checkpoint_path picks a checkpoint of a run (--output_dir); a preset holds one set of "
                         "weights.")


def define_registry_flags(flag_values):
    flags.DEFINE_string("usr_dir", None, "Directory of the user's modules to import, so that their "
                        "@register_problem/@register_model/@register_hparams take effect. A run remembers it; later "
                        "commands on the run import it without the flag while its files are unchanged "
                        "(docs/robustness.md: code a run names).", flag_values=flag_values)
    flags.DEFINE_bool("registry_help", False, "Print every registered problem, model and hparams set, then exit.",
                      flag_values=flag_values)


@contextlib.contextmanager
def command_logging():
    """imgtf's progress lines on the current stderr while a command runs, and TensorFlow's own INFO lines silenced;
    the "imgtf" logger is as it was afterwards (an in-process caller's handlers, level and propagation)."""
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.WARNING)
    if not flags.FLAGS.is_parsed():  # absl would otherwise warn that logging started before flag parsing
        flags.FLAGS.mark_as_parsed()
    logger = logging.getLogger("imgtf")
    saved = logger.level, logger.propagate
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[imgtf %(asctime)s] %(message)s", "%H:%M:%S"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def load_registry(flag_values):
    """Import built-ins and --usr_dir; handle --registry_help. Returns False if the command should stop."""
    from imgtf import catalog, registry, trusted_code

    catalog.load_builtins()
    registry.import_usr_dir(flag_values.usr_dir)
    if flag_values.usr_dir:
        trusted_code.remember(flag_values.usr_dir)  # the user asked for it: a run that names it may import it later
    if flag_values.registry_help:
        print(registry.registry_help())
        return False
    return True


def require_flags(flag_values, *names):
    """A usage error naming every required flag that is missing."""
    missing = [f"--{name}" for name in names if not getattr(flag_values, name)]
    if missing:
        raise UsageError(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} required.")


def user_errors():
    """Exception types whose messages are complete instructions for the user (no traceback needed)."""
    from imgtf.errors import DataError, TrainingError
    from imgtf.hparams.hparams import HParamsError
    from imgtf.registry import RegistryError
    from imgtf.train.checkpoints import CheckpointError
    from imgtf.train.run_dir import RunDirError
    from imgtf.train.run_lock import RunLockedError

    return (UsageError, CheckpointError, DataError, HParamsError, RegistryError, RunDirError, RunLockedError,
            TrainingError, ValueError)


def out_of_memory(error):
    """Whether `error` is the machine running out of memory: TensorFlow's allocation failure (the check before a run
    counts a lower bound of what it needs, so a run can still get here) or Python's."""
    tensorflow = sys.modules.get("tensorflow")  # not loaded: the error cannot be one of its
    return isinstance(error, MemoryError) or (
        tensorflow is not None and isinstance(error, tensorflow.errors.ResourceExhaustedError))


def out_of_memory_text(error):
    """One paragraph for the user: what could not be allocated (TensorFlow's line) and what to lower."""
    allocation = re.search(r"OOM when allocating tensor with shape\[[^\]]*\][^\n]*?(?= on /|$)", str(error), re.M)
    what = f" ({allocation.group(0)})" if allocation else ""
    return (f"out of memory{what}: the model or batch asks for more memory than this machine has (the check before a "
            "run counts only a lower bound of it). Lower batch_size, hidden_size, num_layers or the image size in "
            "--hparams (or --batch_size / --num_samples where the command has them), or set recompute=true where "
            "the model has it. What was written before (checkpoints, hparams.json) is kept as it was.")


def main(program, doc, define_flags, run, argv=None):
    """Parse `argv` (the arguments after the program name; default sys.argv[1:]) into a fresh set of this command's
    flags and run it. Returns the exit status: 0 done, 1 refused with one line on stderr saying why (a bad flag or
    value, missing data, a locked run, out of memory...), 130 interrupted, or the status `run` returns. Errors that
    are not the user's (bugs) propagate with their traceback."""
    argv = list(sys.argv[1:] if argv is None else argv)
    flag_values = flags.FlagValues()
    define_flags(flag_values)
    if any(arg in HELP_FLAGS for arg in argv):
        text = flag_values.get_help(include_special_flags=False)  # grouped under module paths: drop those lines
        print(f"{doc.strip()}\n\nflags:\n" + "\n".join(line for line in text.splitlines() if line.startswith(" ")))
        return 0
    try:
        rest = flag_values([program, *argv])
        if len(rest) > 1:
            raise UsageError(f"unexpected arguments: {' '.join(rest[1:])} (flags look like --name=value).")
    except (flags.Error, UsageError) as e:
        print(f"{program}: error: {e}\nSee {program} --help.", file=sys.stderr)
        return 1
    try:
        with command_logging():
            code = run(flag_values)
    except KeyboardInterrupt:
        print(f"{program}: interrupted.", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - filtered just below
        if isinstance(e, user_errors()):
            print(f"{program}: error: {e}", file=sys.stderr)
            return 1
        if out_of_memory(e):
            print(f"{program}: error: {out_of_memory_text(e)}", file=sys.stderr)
            return 1
        raise
    return 0 if code is None else int(code)


def console_entry(main_fn):
    """The console script: run `main_fn(sys.argv[1:])` and end the process with its status. After a failure the
    process ends without interpreter finalisers: after an error raised inside a tf.data pipeline, the destructor of
    its (multi-device) iterator can block forever at shutdown. Everything worth keeping is written by then
    (checkpoints are saved synchronously, metrics flushed per record, the run lock is released by the OS)."""
    try:
        code = main_fn(sys.argv[1:])
    except Exception:  # a bug: its traceback, then the same prompt exit
        traceback.print_exc()
        code = 1
    if code:
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)
    sys.exit(0)
