"""imgtf-decoder: sample images from a trained run (unconditional, class-conditional, completion, super-resolution).

  imgtf-decoder --output_dir=RUN --decode_dir=RUN/samples --num_samples=16 --temperature=0.9
  imgtf-decoder --output_dir=RUN --data_dir=DATA --decode_dir=OUT --mode=completion --num_samples=8
  imgtf-decoder --output_dir=SR_RUN --decode_dir=OUT --input_images=a.jpg,b.png   # super-resolve your images
"""
from absl import flags

from imgtf.commands import common


def define_flags(fv):
    def string(name, default, text):
        flags.DEFINE_string(name, default, text, flag_values=fv)

    def integer(name, default, text):
        flags.DEFINE_integer(name, default, text, flag_values=fv)

    string("output_dir", None, "The trained run directory (hparams.json and checkpoints); or --preset.")
    string("preset", None, "A trained preset instead of a run: a built-in name (pixelcnn_binarized_mnist), a "
           "directory written by imgtf.save_preset, or a handle (hf://OWNER/NAME, kaggle://OWNER/MODEL/FRAMEWORK/"
           "VARIATION).")
    string("checkpoint_path", None, "A specific checkpoint (default: the latest in --output_dir).")
    string("data_dir", None, "Data for completion / super-resolution inputs taken from a split.")
    string("decode_dir", None, "Where to write samples.png, samples.npy and decode.json.")
    flags.DEFINE_enum("mode", "auto", ["auto", "unconditional", "class", "completion", "super_resolution"],
                      "auto: super_resolution for img2img models, class for class-conditional ones, else "
                      "unconditional.", flag_values=fv)
    integer("num_samples", 8, "Images to sample (or inputs to complete / super-resolve).")
    integer("samples_per_input", 1, "Completion / super-resolution: samples drawn per input.")
    flags.DEFINE_float("temperature", 1.0, "Sampling temperature: logits are divided by it (the paper uses "
                       "0.8-1.0).", flag_values=fv)
    integer("batch_size", 8, "Images sampled together.")
    integer("seed", 0, "Random seed: the same seed gives the same images.")
    flags.DEFINE_list("labels", [], "Class ids for class-conditional sampling (cycled); default: every class in "
                      "turn.", flag_values=fv)
    string("split", None, "Split for completion / super-resolution inputs (default: the evaluation split).")
    flags.DEFINE_list("input_images", [], "Your own image files to super-resolve (centre-cropped, area-resized to "
                      "the model's input size).", flag_values=fv)
    flags.DEFINE_bool("xla", True, "Compile the sampling loop with XLA (much faster on CPU; the images are the same "
                      "without it).", flag_values=fv)
    common.define_registry_flags(fv)


def run(args):
    if not common.load_registry(args):
        return 0
    common.require_flags(args, "decode_dir")
    common.require_one_source(args)
    from imgtf.api import load_run
    from imgtf.sampling.decode import check_decode_dir, decode
    from imgtf.sampling.settings import SamplingSettings
    from imgtf.units import likelihood_text

    settings = SamplingSettings.from_flags(args)  # refused before a checkpoint is loaded
    check_decode_dir(args.decode_dir)
    try:
        labels = [int(v) for v in args.labels]
    except ValueError:
        raise common.UsageError(f"--labels={','.join(args.labels)}: class ids are integers, e.g. --labels=3,7.")
    if args.preset:
        from imgtf.presets.preset import load_preset

        trained = load_preset(args.preset, args.data_dir)
    else:
        trained = load_run(args.output_dir, args.checkpoint_path, args.data_dir, style="flag")  # weights only
    summary = decode(trained.model, trained.problem, args.decode_dir, settings, mode=args.mode, data_dir=args.data_dir,
                     split=args.split, labels=labels, input_images=args.input_images)
    extra = f", consistency {summary['consistency']:.4f}" if "consistency" in summary else ""
    likelihood = likelihood_text(summary["samples_bits_per_dim"], summary["samples_nats_per_image"],
                                 trained.problem.reported_metric)
    print(f"{summary['num_images']} images ({summary['mode']}) in {summary['seconds']:.1f} s "
          f"({summary['seconds_per_image']:.2f} s/image{extra}; the model gives them {likelihood}) -> "
          f"{args.decode_dir}/samples.png")
    return 0


def main(argv=None):
    """Run imgtf-decoder with `argv` (the arguments after the program name); returns its exit status."""
    return common.main("imgtf-decoder", __doc__, define_flags, run, argv)


def run_main():
    common.console_entry(main)


if __name__ == "__main__":
    run_main()
