"""imgtf-exporter: export a trained run as a SavedModel (bits_per_dim, log_prob, sample signatures) and a .keras file.

  imgtf-exporter --output_dir=RUN --export_dir=RUN/export
  python -c "import tensorflow as tf; m = tf.saved_model.load('RUN/export/saved_model'); \\
             print(m.signatures['sample'](num_samples=tf.constant(2), temperature=tf.constant(1.0), seed=tf.constant(0)))"
"""
import os
import shutil

from absl import flags

from imgtf.commands import common


def define_flags(fv):
    flags.DEFINE_string("output_dir", None, "The trained run directory.", flag_values=fv)
    flags.DEFINE_string("checkpoint_path", None, "A specific checkpoint (default: the latest).", flag_values=fv)
    flags.DEFINE_string("export_dir", None, "Where to write saved_model/ and model.keras.", flag_values=fv)
    flags.DEFINE_bool("overwrite", False, "Replace an existing export in --export_dir (refused without it).",
                      flag_values=fv)
    flags.DEFINE_bool("xla", True, "Compile the sample signature's loop with XLA (much faster on CPU).",
                      flag_values=fv)
    common.define_registry_flags(fv)


def run(args):
    if not common.load_registry(args):
        return 0
    common.require_flags(args, "output_dir", "export_dir")
    from imgtf.api import load_run
    from imgtf.export.saved_model import export_saved_model

    export_dir = args.export_dir.rstrip("/")
    if os.path.exists(export_dir) and (not os.path.isdir(export_dir) or os.listdir(export_dir)) and not args.overwrite:
        raise common.UsageError(f"--export_dir={export_dir} is not empty: exporting would replace what is there. "
                                "Pass --overwrite to replace it, or choose a new --export_dir.")
    source, target = os.path.realpath(args.output_dir), os.path.realpath(export_dir)
    inside = source == target or source.startswith(target + os.sep)
    if inside or os.path.exists(os.path.join(target, "hparams.json")):
        holder = args.output_dir if inside else export_dir
        raise common.UsageError(f"--export_dir={export_dir} holds a run directory ({holder}): an export replaces its "
                                "whole folder and would delete the run's checkpoints. Export to a folder of its own, "
                                "e.g. --export_dir=RUN/export.")
    trained = load_run(args.output_dir, args.checkpoint_path, style="flag")  # weights only: no optimizer state
    # written beside the target and moved into place at the end: a failed export leaves the old one intact
    staging = f"{export_dir}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        export_saved_model(trained.model, os.path.join(staging, "saved_model"), args.xla)
        trained.model.save(os.path.join(staging, "model.keras"))
        if os.path.isdir(export_dir):
            shutil.rmtree(export_dir)
        elif os.path.exists(export_dir):
            os.remove(export_dir)
        os.replace(staging, export_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    saved, keras_path = os.path.join(export_dir, "saved_model"), os.path.join(export_dir, "model.keras")
    print(f"SavedModel: {saved} (signatures: bits_per_dim, log_prob, sample)\nKeras: {keras_path}")
    return 0


def main(argv=None):
    """Run imgtf-exporter with `argv` (the arguments after the program name); returns its exit status."""
    return common.main("imgtf-exporter", __doc__, define_flags, run, argv)


def run_main():
    common.console_entry(main)


if __name__ == "__main__":
    run_main()
