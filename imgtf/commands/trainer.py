"""imgtf-trainer: train and/or evaluate a registered model on a registered problem.

  imgtf-trainer --problem=image_cifar10 --hparams_set=imagetransformer_cifar10_tiny \
      --data_dir=DATA --output_dir=RUN --train_steps=300     # --model: the set's own (here image_transformer)
"""
import os
import sys

from absl import flags

from imgtf.commands import common

FLAGS = flags.FLAGS
flags.DEFINE_string("problem", None, "Registered problem name, e.g. image_cifar10.")
flags.DEFINE_string("model", None, "Registered model name, e.g. image_transformer (default: the model the "
                    "hparams set was registered for).")
flags.DEFINE_string("hparams_set", None, "Registered hparams set, e.g. imagetransformer_cifar10_tiny.")
flags.DEFINE_string("hparams", "", "Overrides: key=value,key2=value2 (lists as key=[8,32]).")
flags.DEFINE_string("problem_options", "", "Settings of configurable problems, e.g. for image_folder: "
                    "image_size=32,input_size=8,labels=true,skip_corrupt=true.")
flags.DEFINE_string("data_dir", None, "Where the problem's data is (official files or prepared tfds).")
flags.DEFINE_string("output_dir", None, "Run directory: hparams.json, checkpoints, metrics.jsonl, TensorBoard.")
flags.DEFINE_integer("train_steps", 1000, "Train until the global step reaches this (resumes in --output_dir).")
flags.DEFINE_integer("eval_steps", 0, "Evaluate on this many batches; 0 = the whole split.")
flags.DEFINE_enum("schedule", "train_and_eval", ["train", "eval", "train_and_eval"], "What to run.")
flags.DEFINE_string("eval_split", None, "Split to evaluate (default: the problem's evaluation split).")
flags.DEFINE_integer("eval_every_steps", 0, "With train_and_eval: also evaluate every N steps (0 = only at the end).")
flags.DEFINE_integer("steps_per_loop", 1, "Steps run inside one compiled call (one host round trip per call: raise "
                     "it on GPUs/TPUs when steps are short). Logging, samples and checkpoints still happen at their "
                     "steps; the weights do not depend on it.", lower_bound=1)
flags.DEFINE_integer("checkpoint_every_steps", 1000, "Save a checkpoint every N steps (and always at the end).")
flags.DEFINE_integer("keep_checkpoints", 5, "How many recent checkpoints to keep.")
flags.DEFINE_integer("log_every_steps", 50, "Log loss and throughput every N steps.")
flags.DEFINE_integer("sample_every_steps", 0, "Every N steps write a grid of 4 samples (cached sampler) to TensorBoard "
                     "(0 = never; on CPUs a paper-size model takes minutes per grid).")
flags.DEFINE_integer("random_seed", 0, "Seed of initialisation, data order and dropout.")
flags.DEFINE_enum("distribution_strategy", "auto", ["auto", "one_device", "mirrored", "multi_worker", "tpu"],
                  "auto: mirrored over all local GPUs if several, else one device. multi_worker reads TF_CONFIG.")
flags.DEFINE_string("tpu", None, "TPU name or address for --distribution_strategy=tpu (\"local\" on a TPU VM).")
flags.DEFINE_integer("num_cpu_devices", 0, "Split the CPU into this many logical devices (to try mirrored on a CPU).")
flags.DEFINE_enum("mixed_precision", "float32", ["float32", "bfloat16", "float16"],
                  "Compute dtype; variables, logits, softmax and likelihoods stay float32; float16 adds loss scaling.")
flags.DEFINE_bool("xla", False, "Compile the training step with XLA (falls back with a notice where it fails).")
common.define_registry_flags()


def run():
    if not common.load_registry():
        return
    common.require_flags("output_dir")
    from imgtf.train import run_dir, run_lock

    spec = run_dir.resolve(FLAGS.output_dir, FLAGS.problem, FLAGS.model, FLAGS.hparams_set, FLAGS.hparams,
                           FLAGS.problem_options, FLAGS.usr_dir)
    from imgtf.train import distribution
    from imgtf.train.trainer import Preempted, Trainer, TrainingError

    strategy = distribution.make_strategy(FLAGS.distribution_strategy, FLAGS.tpu, FLAGS.num_cpu_devices)
    distribution.set_precision(FLAGS.mixed_precision)
    trainer = Trainer(spec, FLAGS.output_dir, FLAGS.data_dir, strategy=strategy, seed=FLAGS.random_seed,
                      keep_checkpoints=FLAGS.keep_checkpoints, precision=FLAGS.mixed_precision, xla=FLAGS.xla)
    # everything is validated (the model is built); one writer per run directory from its first read on
    if trainer.chief:
        run_lock.acquire(FLAGS.output_dir)
    if strategy.num_replicas_in_sync > 1 and trainer.chief:
        print(f"{type(strategy).__name__}: {strategy.num_replicas_in_sync} replicas, global batch "
              f"{trainer.global_batch_size} ({spec.hparams.batch_size} per replica)")
    if FLAGS.schedule == "eval":
        if not trainer.restore():
            raise TrainingError(f"no checkpoint in {FLAGS.output_dir} to evaluate; train first (--schedule=train).")
        entry = trainer.evaluate(FLAGS.eval_split, FLAGS.eval_steps)
        print(f"bits_per_dim {entry['bits_per_dim']:.4f} ({entry['nats_per_image']:.2f} nats/image) on {entry['split']} "
              f"({entry['num_images']} images)")
        return
    if trainer.chief:
        run_dir.save(spec, FLAGS.output_dir)
    targets = [FLAGS.train_steps]
    if FLAGS.schedule == "train_and_eval" and FLAGS.eval_every_steps:
        targets = list(range(FLAGS.eval_every_steps, FLAGS.train_steps, FLAGS.eval_every_steps)) + targets
    for target in targets:
        try:
            trainer.train(target, checkpoint_every=FLAGS.checkpoint_every_steps, log_every=FLAGS.log_every_steps,
                          sample_every=FLAGS.sample_every_steps, steps_per_loop=FLAGS.steps_per_loop)
        except Preempted as e:
            print(f"imgtf-trainer: {e}", file=sys.stderr)
            sys.exit(143)
        if FLAGS.schedule == "train_and_eval":
            entry = trainer.evaluate(FLAGS.eval_split, FLAGS.eval_steps)
    if FLAGS.schedule == "train_and_eval":
        print(f"bits_per_dim {entry['bits_per_dim']:.4f} ({entry['nats_per_image']:.2f} nats/image) on {entry['split']} "
              f"({entry['num_images']} images) "
              f"at step {entry['step']}; metrics in {os.path.join(FLAGS.output_dir, 'metrics.jsonl')}")


def run_main():
    common.run_command("imgtf-trainer", __name__, __doc__, run)


if __name__ == "__main__":
    run_main()
