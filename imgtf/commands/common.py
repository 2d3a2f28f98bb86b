"""Flags, logging and error handling shared by every imgtf command."""
import logging
import os
import sys

from absl import app, flags  # noqa: F401  (app: commands raise app.UsageError)

FLAGS = flags.FLAGS


def define_registry_flags():
    flags.DEFINE_string("usr_dir", None, "Directory of the user's modules to import, so that their "
                        "@register_problem/@register_model/@register_hparams take effect.")
    flags.DEFINE_bool("registry_help", False, "Print every registered problem, model and hparams set, then exit.")


def adopt_flags_for_help(module_names, doc):
    """Make `--help` list this command's flags when it runs as a console script (absl lists the flags of
    the module named by argv[0]; ours are defined in imgtf.commands.*)."""
    main = sys.modules.get("__main__")
    if main is not None:
        main.__doc__ = doc
    by_module = FLAGS.flags_by_module_dict()
    for module_name in module_names:
        for flag in by_module.get(module_name, []):
            FLAGS.register_key_flag_for_module(sys.argv[0], flag)


def setup_logging():
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.WARNING)  # TensorFlow's own INFO lines drown our progress
    logger = logging.getLogger("imgtf")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[imgtf %(asctime)s] %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def load_registry():
    """Import built-ins and --usr_dir; handle --registry_help. Returns False if the command should stop."""
    from imgtf import catalog, registry

    catalog.load_builtins()
    registry.import_usr_dir(FLAGS.usr_dir)
    if FLAGS.registry_help:
        print(registry.registry_help())
        return False
    return True


def require_flags(*names):
    """A usage error naming every required flag that is missing."""
    missing = [f"--{name}" for name in names if not getattr(FLAGS, name)]
    if missing:
        raise app.UsageError(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} required.")


def user_errors():
    """Exception types whose messages are complete instructions for the user (no traceback needed)."""
    from imgtf.data.errors import DataError
    from imgtf.hparams.hparams import HParamsError
    from imgtf.registry import RegistryError
    from imgtf.train.run_dir import RunDirError
    from imgtf.train.checkpoints import CheckpointError
    from imgtf.train.run_lock import RunLockedError

    errors = (CheckpointError, DataError, HParamsError, RegistryError, RunDirError, RunLockedError, ValueError)
    if "imgtf.train.trainer" in sys.modules:
        errors += (sys.modules["imgtf.train.trainer"].TrainingError,)
    return errors


def run_guarded(program, fn):
    """Run fn(); known user errors print one clear line and exit 1 instead of a traceback."""
    try:
        return fn()
    except KeyboardInterrupt:
        print(f"{program}: interrupted.", file=sys.stderr)
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - filtered just below
        if isinstance(e, user_errors()):
            print(f"{program}: error: {e}", file=sys.stderr)
            exit_now(1)
        raise


def exit_now(code):
    """Exit without running interpreter finalisers. After an error raised inside a tf.data pipeline, the
    destructor of its (multi-device) iterator can block forever at interpreter shutdown: the message was
    printed, yet the process never ended. Everything worth keeping is already written (checkpoints are saved
    synchronously, metrics flushed per record, the run lock is released by the OS)."""
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


def run_command(program, module_name, doc, run):
    """The console-script entry point of a command: absl flags, logging, clear errors, then `run()`."""

    def main(argv):
        if len(argv) > 1:
            raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])} (flags look like --name=value).")
        setup_logging()
        run_guarded(program, run)

    adopt_flags_for_help([module_name, __name__], doc)
    app.run(main)
