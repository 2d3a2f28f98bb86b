r"""imgtf-trainer: train and/or evaluate a registered model on a registered problem.

  imgtf-trainer --problem=image_cifar10 --hparams_set=imagetransformer_cifar10_tiny \
      --data_dir=DATA --output_dir=RUN --train_steps=300     # --model: the set's own (here image_transformer)
  imgtf-trainer --init_from=pixelcnn_binarized_mnist --data_dir=DATA --output_dir=RUN2 --train_steps=500
      # fine-tune: a new run that starts from a preset's weights (its problem, model and set unless given)
"""
import os
import sys

from absl import flags

from imgtf.commands import common


def define_flags(fv):
    def string(name, default, text):
        flags.DEFINE_string(name, default, text, flag_values=fv)

    def integer(name, default, text, **kwargs):
        flags.DEFINE_integer(name, default, text, flag_values=fv, **kwargs)

    def enum(name, default, values, text):
        flags.DEFINE_enum(name, default, values, text, flag_values=fv)

    string("problem", None, "Registered problem name, e.g. image_cifar10.")
    string("model", None, "Registered model name, e.g. image_transformer (default: the model the hparams set was "
           "registered for).")
    string("hparams_set", None, "Registered hparams set, e.g. imagetransformer_cifar10_tiny.")
    string("hparams", "", "Overrides: key=value,key2=value2 (lists as key=[8,32]).")
    string("init_from", None, "Start a new run from a preset's weights (a built-in name, a directory or an hf:// / "
           "kaggle:// handle): weights only, with a fresh optimiser at step 0. --problem, --model, --hparams_set and "
           "--problem_options default to the preset's; the model they give must have the preset's weight shapes. A "
           "resumed run goes on from its own checkpoints.")
    string("problem_options", "", "Settings of configurable problems, e.g. for image_folder: "
           "image_size=32,input_size=8,labels=true,skip_corrupt=true.")
    string("data_dir", None, "Where the problem's data is (official files or prepared tfds).")
    string("output_dir", None, "Run directory: hparams.json, checkpoints, metrics.jsonl, TensorBoard.")
    integer("train_steps", 1000, "Train until the global step reaches this (resumes in --output_dir).", lower_bound=0)
    integer("eval_steps", 0, "Evaluate on this many batches; 0 = the whole split.", lower_bound=0)
    enum("schedule", "train_and_eval", ["train", "eval", "train_and_eval"], "What to run.")
    string("checkpoint_path", None, "With --schedule=eval: evaluate this checkpoint (e.g. RUN/ckpt-200) instead of "
           "the newest.")
    string("eval_split", None, "Split to evaluate (default: the problem's evaluation split).")
    integer("eval_every_steps", 0, "With train_and_eval: also evaluate every N steps (0 = only at the end).",
            lower_bound=0)
    integer("steps_per_loop", 1, "Steps run inside one compiled call (one host round trip per call: raise it on "
            "GPUs/TPUs when steps are short). Logging, samples and checkpoints still happen at their steps; the "
            "weights do not depend on it.", lower_bound=1)
    integer("checkpoint_every_steps", 1000, "Save a checkpoint every N steps (and always at the end).", lower_bound=1)
    integer("keep_checkpoints", 5, "How many recent checkpoints to keep.", lower_bound=1)
    integer("log_every_steps", 50, "Log loss and throughput every N steps.", lower_bound=1)
    integer("sample_every_steps", 0, "Every N steps write a grid of 4 samples (cached sampler) to TensorBoard "
            "(0 = never; on CPUs a paper-size model takes minutes per grid).", lower_bound=0)
    integer("random_seed", 0, "Seed of initialisation, data order and dropout; recorded in the run, which resumes "
            "with it.", lower_bound=0, upper_bound=2 ** 31 - 1)
    enum("distribution_strategy", "auto", ["auto", "one_device", "mirrored", "multi_worker", "tpu"],
         "auto: mirrored over all local GPUs if several, else one device. multi_worker reads TF_CONFIG.")
    string("tpu", None, "TPU name or address for --distribution_strategy=tpu (\"local\" on a TPU VM).")
    integer("num_cpu_devices", 0, "Split the CPU into this many logical devices (to try mirrored on a CPU; only "
            "before TensorFlow has started in the process).")
    enum("mixed_precision", "float32", ["float32", "bfloat16", "float16"],
         "Compute dtype; variables, logits, softmax and likelihoods stay float32; float16 adds loss scaling.")
    enum("xla", "auto", ["auto", "on", "off"],
         "Compile the training step with XLA: auto = on GPUs and TPUs, not on a CPU (where it measured slower for "
         "every convolutional and recurrent family, and no faster for the Image Transformer). Falls back with a "
         "notice where compilation fails.")
    common.define_registry_flags(fv)


def run(args):
    if not common.load_registry(args):
        return 0
    common.require_flags(args, "output_dir")
    from imgtf.models import footprint
    from imgtf.train import distribution, run_dir

    preset, names = None, (args.problem, args.model, args.hparams_set, args.hparams, args.problem_options)
    if args.init_from:
        if args.schedule == "eval":
            raise common.UsageError("--init_from starts training from a preset's weights; --schedule=eval trains "
                                    "nothing (evaluate a preset's run, or train first).")
        from imgtf.presets.preset import load_preset

        preset = load_preset(args.init_from)
        names = preset_names(preset.spec, args)
    spec = run_dir.resolve(args.output_dir, *names, usr_dir=args.usr_dir)
    strategy = distribution.make_strategy(args.distribution_strategy, args.tpu, args.num_cpu_devices)
    if not distribution.on_accelerator(strategy):  # on GPUs and TPUs the step lives in their memory, not the host's
        footprint.check_fits(spec.hparams, spec.problem_info or spec.make_problem().info,
                             spec.hparams.batch_size * strategy.num_replicas_in_sync)
    distribution.set_precision(args.mixed_precision)
    try:
        return train_and_evaluate(args, spec, strategy, preset)
    finally:
        distribution.set_precision("float32")  # the process-wide policy: an in-process caller goes on in float32


def preset_names(saved, args):
    """(problem, model, hparams_set, overrides, problem_options) of a run started from a preset whose hparams.json
    is `saved`: the flags given, else the preset's (its overrides first, then --hparams)."""
    hparams_set = args.hparams_set or saved.hparams_set
    model = args.model or (saved.model if hparams_set == saved.hparams_set else None)
    overrides = ",".join(filter(None, (saved.overrides if hparams_set == saved.hparams_set else "", args.hparams)))
    problem = args.problem or saved.problem
    options = args.problem_options or (saved.problem_options if problem == saved.problem else "")
    return problem, model, hparams_set, overrides, options


def start_from_preset(trainer, spec, preset, output_dir):
    """A new run takes the preset's weights before its first step; a resumed one goes on from its checkpoints, if it
    is the run this preset started."""
    from imgtf.presets.preset import initialize_from
    from imgtf.train import checkpoints

    if checkpoints.newest_step(output_dir) == 0:
        spec.init_from = initialize_from(trainer.model, preset)
        print(f"Starting from the weights of preset {preset.name} (step {preset.index.get('step')}).")
        return
    sha = preset.index["files"]["model.weights.h5"]["sha256"]
    if (spec.init_from or {}).get("weights_sha256") != sha:
        raise common.UsageError(f"--init_from={preset.given}: the run in {output_dir} already has checkpoints "
                                f"{'from preset ' + spec.init_from['preset'] if spec.init_from else 'of its own'}; "
                                "--init_from starts a new run. Drop it to resume this run, or use a new --output_dir.")


def train_and_evaluate(args, spec, strategy, preset=None):
    from imgtf.errors import TrainingError
    from imgtf.evaluation.evaluator import Evaluator
    from imgtf.train import checkpoints, run_dir, run_lock
    from imgtf.train.trainer import Preempted, Trainer

    if args.checkpoint_path and args.schedule != "eval":
        raise common.UsageError(f"--checkpoint_path is for --schedule=eval (training resumes from the newest "
                                f"checkpoint); got --schedule={args.schedule}.")
    if args.checkpoint_path:
        checkpoints.check_checkpoint_path(args.checkpoint_path)
    if args.eval_split and args.schedule != "train":
        problem = spec.make_problem()
        if args.eval_split not in problem.splits:
            raise common.UsageError(f"--eval_split={args.eval_split}: problem {problem.name!r} has the splits "
                                    f"{', '.join(problem.splits)}.")
    seed = run_dir.settle_seed(spec, args.output_dir, args.random_seed, args["random_seed"].present)
    trainer = Trainer(spec, args.output_dir, args.data_dir, strategy=strategy, seed=seed,
                      keep_checkpoints=args.keep_checkpoints, precision=args.mixed_precision, xla=args.xla)
    evaluator = Evaluator.of(trainer)
    if args.schedule == "train_and_eval":  # the evaluation's data is found before training, not after it
        trainer.problem.split_size(args.eval_split or trainer.problem.eval_split, args.data_dir)
    # everything is validated (the model is built); one writer per run directory from its first read on
    if trainer.chief:
        run_lock.acquire(args.output_dir)
    try:
        if strategy.num_replicas_in_sync > 1 and trainer.chief:
            print(f"{type(strategy).__name__}: {strategy.num_replicas_in_sync} replicas, global batch "
                  f"{trainer.global_batch_size} ({spec.hparams.batch_size} per replica)")
        if args.schedule == "eval":
            if not trainer.restore(args.checkpoint_path):
                raise TrainingError(f"no checkpoint in {args.output_dir} to evaluate; train first (--schedule=train).")
            entry = evaluator.evaluate(args.eval_split, args.eval_steps)
            source = entry.get("checkpoint") or ""
            elsewhere = os.sep in source  # a checkpoint named from another directory
            report(entry, f" of {source} (from another directory: not this run's evaluation)" if elsewhere else "")
            return 0
        reached = checkpoints.newest_step(args.output_dir)
        if reached > args.train_steps:
            raise TrainingError(f"the run in {args.output_dir} is at step {reached}, past --train_steps="
                                f"{args.train_steps}: there is nothing to train. Raise --train_steps to train on, or "
                                "evaluate it with --schedule=eval.")
        if preset is not None:
            start_from_preset(trainer, spec, preset, args.output_dir)
        if trainer.chief:
            run_dir.save(spec, args.output_dir)
        targets = [args.train_steps]
        if args.schedule == "train_and_eval" and args.eval_every_steps:
            targets = list(range(args.eval_every_steps, args.train_steps, args.eval_every_steps)) + targets
        for target in targets:
            try:
                trainer.train(target, checkpoint_every=args.checkpoint_every_steps, log_every=args.log_every_steps,
                              sample_every=args.sample_every_steps, steps_per_loop=args.steps_per_loop)
            except Preempted as e:
                print(f"imgtf-trainer: {e}", file=sys.stderr)
                return 143
            if args.schedule == "train_and_eval":
                entry = evaluator.evaluate(args.eval_split, args.eval_steps)
        if args.schedule == "train_and_eval":
            report(entry, f" at step {entry['step']}; metrics in {os.path.join(args.output_dir, 'metrics.jsonl')}")
        return 0
    finally:
        if trainer.chief:
            run_lock.release(args.output_dir)


def report(entry, suffix=""):
    """The evaluation's last line, in the problem's unit first (nats/image for binary images, else bits/dim), with
    its standard error and 95% interval over the images (none for a single image), e.g.
    `bits_per_dim 5.7511 +- 0.0188 (95% CI 5.7141-5.7880; 12245.99 nats/image) on test (1017 images)`."""
    from imgtf import units

    print(f"{units.record_text(entry)} on {entry['split']} ({entry['num_images']} images){suffix}")


def main(argv=None):
    """Run imgtf-trainer with `argv` (the arguments after the program name); returns its exit status."""
    return common.main("imgtf-trainer", __doc__, define_flags, run, argv)


def run_main():
    common.console_entry(main)


if __name__ == "__main__":
    run_main()
