"""imgtf-exporter: export a trained run as a SavedModel (bits_per_dim, log_prob, sample signatures) and a .keras file.

  imgtf-exporter --output_dir=RUN --export_dir=RUN/export
  python -c "import tensorflow as tf; m = tf.saved_model.load('RUN/export/saved_model'); \\
             print(m.signatures['sample'](num_samples=tf.constant(2), temperature=tf.constant(1.0), seed=tf.constant(0)))"
"""
import os

from absl import flags

from imgtf.commands import common

WRITER = "imgtf-exporter"


def define_flags(fv):
    flags.DEFINE_string("output_dir", None, "The trained run directory; or --preset.", flag_values=fv)
    flags.DEFINE_string("preset", None, "A trained preset instead of a run: a built-in name, a directory written by "
                        "imgtf.save_preset, or a handle (hf://OWNER/NAME, kaggle://OWNER/MODEL/FRAMEWORK/VARIATION).",
                        flag_values=fv)
    flags.DEFINE_string("checkpoint_path", None, "A specific checkpoint (default: the latest).", flag_values=fv)
    flags.DEFINE_string("export_dir", None, "Where to write saved_model/ and model.keras.", flag_values=fv)
    flags.DEFINE_bool("overwrite", False, "Replace an earlier export in --export_dir (refused without it; a folder "
                      "imgtf-exporter did not write is never replaced).",
                      flag_values=fv)
    flags.DEFINE_bool("xla", True, "Compile the sample signature's loop with XLA (much faster on CPU).",
                      flag_values=fv)
    common.define_registry_flags(fv)


def run(args):
    if not common.load_registry(args):
        return 0
    common.require_flags(args, "export_dir")
    common.require_one_source(args)
    from imgtf.api import load_run
    from imgtf.export.saved_model import export_saved_model

    from imgtf import artifacts

    export_dir = args.export_dir.rstrip("/")
    target = os.path.realpath(export_dir)
    for given in (g for g in (args.output_dir, args.preset) if g and os.path.isdir(g)):
        source = os.path.realpath(given)
        if source == target or source.startswith(target + os.sep):
            held, lost = (("the run directory", "the run's checkpoints") if given == args.output_dir
                          else ("the preset", "the preset"))
            raise common.UsageError(f"--export_dir={export_dir} holds {held} {given}: an export replaces its whole "
                                    f"folder and would delete {lost}. Export to a folder of its own, e.g. "
                                    "--export_dir=RUN/export.")
    if os.path.isdir(export_dir) and set(os.listdir(export_dir)) - {artifacts.MANIFEST} and not args.overwrite:
        raise common.UsageError(f"--export_dir={export_dir} is not empty: exporting would replace what is there. "
                                "Pass --overwrite to replace an earlier export, or choose a new --export_dir.")
    artifacts.check_replaceable(export_dir, WRITER, "--export_dir")  # --overwrite replaces only an export
    if args.preset:
        from imgtf.presets.preset import load_preset

        trained = load_preset(args.preset)
        source = {"preset": args.preset if not os.path.isdir(args.preset) else os.path.abspath(args.preset),
                  "step": trained.index.get("step")}
    else:
        trained = load_run(args.output_dir, args.checkpoint_path, style="flag")  # weights only: no optimizer state
        source = {"run": os.path.abspath(args.output_dir), "checkpoint": os.path.abspath(trained.checkpoint)}
    # written beside the target and renamed into place at the end: a failed or killed export leaves the old one
    with artifacts.staged(export_dir, WRITER, **source) as staging:
        export_saved_model(trained.model, os.path.join(staging, "saved_model"), args.xla)
        trained.model.save(os.path.join(staging, "model.keras"))
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
