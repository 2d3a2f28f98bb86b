"""imgtf-decoder: sample images from a trained run (unconditional, class-conditional, completion, super-resolution).

  imgtf-decoder --output_dir=RUN --decode_dir=RUN/samples --num_samples=16 --temperature=0.9
  imgtf-decoder --output_dir=RUN --data_dir=DATA --decode_dir=OUT --mode=completion --num_samples=8
  imgtf-decoder --output_dir=SR_RUN --decode_dir=OUT --input_images=a.jpg,b.png   # super-resolve your images
"""
from absl import flags

from imgtf.commands import common

FLAGS = flags.FLAGS
flags.DEFINE_string("output_dir", None, "The trained run directory (hparams.json and checkpoints).")
flags.DEFINE_string("checkpoint_path", None, "A specific checkpoint (default: the latest in --output_dir).")
flags.DEFINE_string("data_dir", None, "Data for completion / super-resolution inputs taken from a split.")
flags.DEFINE_string("decode_dir", None, "Where to write samples.png, samples.npy and decode.json.")
flags.DEFINE_enum("mode", "auto", ["auto", "unconditional", "class", "completion", "super_resolution"],
                  "auto: super_resolution for img2img models, class for class-conditional ones, else unconditional.")
flags.DEFINE_integer("num_samples", 8, "Images to sample (or inputs to complete / super-resolve).")
flags.DEFINE_integer("samples_per_input", 1, "Completion / super-resolution: samples drawn per input.")
flags.DEFINE_float("temperature", 1.0, "Sampling temperature: logits are divided by it (the paper uses 0.8-1.0).")
flags.DEFINE_integer("batch_size", 8, "Images sampled together.")
flags.DEFINE_integer("seed", 0, "Random seed: the same seed gives the same images.")
flags.DEFINE_list("labels", [], "Class ids for class-conditional sampling (cycled); default: every class in turn.")
flags.DEFINE_string("split", None, "Split for completion / super-resolution inputs (default: the evaluation split).")
flags.DEFINE_list("input_images", [], "Your own image files to super-resolve (centre-cropped, area-resized to the "
                  "model's input size).")
common.define_registry_flags()


def run():
    if not common.load_registry():
        return
    common.require_flags("output_dir", "decode_dir")
    from imgtf.sampling.decode import decode
    from imgtf.sampling.sampler import check_sampling_settings
    from imgtf.api import load_run

    check_sampling_settings(FLAGS.num_samples, FLAGS.temperature, FLAGS.batch_size, FLAGS.samples_per_input)

    trained = load_run(FLAGS.output_dir, FLAGS.checkpoint_path, FLAGS.data_dir)  # weights only
    summary = decode(trained.model, trained.problem, FLAGS.decode_dir, data_dir=FLAGS.data_dir, mode=FLAGS.mode,
                     num_samples=FLAGS.num_samples, temperature=FLAGS.temperature, seed=FLAGS.seed,
                     batch_size=FLAGS.batch_size, labels=[int(v) for v in FLAGS.labels], split=FLAGS.split,
                     input_images=FLAGS.input_images, samples_per_input=FLAGS.samples_per_input)
    extra = f", consistency {summary['consistency']:.4f}" if "consistency" in summary else ""
    print(f"{summary['num_images']} images ({summary['mode']}) in {summary['seconds']:.1f} s "
          f"({summary['seconds_per_image']:.2f} s/image{extra}) -> {FLAGS.decode_dir}/samples.png")


def run_main():
    common.run_command("imgtf-decoder", __name__, __doc__, run)


if __name__ == "__main__":
    run_main()
