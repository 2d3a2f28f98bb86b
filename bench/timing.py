"""One timer for imgtf's steps: the trainer's training step, its evaluation and the cached sampler, for any set, batch,
precision, XLA setting and steps per loop; MFU against a matmul measured in the same process; peak memory; and an A/B
mode that times this tree against another commit, interleaved, in one run.

    python bench/timing.py --sets=imagetransformer_cifar10_tiny                    # the training step, default flags
    python bench/timing.py --sets=pixelcnn_cifar10_tiny --steps_per_loop=1,8,32    # every combination, one table
    python bench/timing.py --sets=... --measure=train,eval,sample                  # and evaluation, cached sampling
    python bench/timing.py --sets=all --measure=graph --baseline=8fc61b5          # the same compiled step as B?
    python bench/timing.py --sets=all --baseline=7724770 --rounds=3               # A/B against that commit
    python bench/timing.py --sets=imagetransformer_cifar10_base --batch=8 --hparams="recompute=false;recompute=true"
    python bench/timing.py --precision=float32,bfloat16 --xla=off,on --batch=64     # on a GPU: the fastest setting
    python bench/timing.py --replicas=1,2 --input_checks=on,off --onednn=on,off     # scaling; the checks; oneDNN
    python bench/timing.py ... --results_name=timing_xla    # docs/results/timing_xla.md (default: timing.md)
    python bench/timing.py --sets=all --measure=build --baseline=HEAD~1 --rounds=2   # building a model, A/B

Each option takes a comma-separated list (--hparams: `;`-separated override strings) and the table has one row per
combination. Every measurement runs in a process of its own (its peak memory is its own) with the tree under test
first on PYTHONPATH: the working tree (A), and with --baseline a git worktree of that commit (B), made for the run
and removed after. Rounds interleave them, A B A B ..., so the machine's drift reaches both alike; a ratio is B's
time over A's per round (above 1: A is faster), and the table shows each round's ratio and their median. The
training loss after the timed steps is shown beside it: two commits that compute the same function give the same
loss.

Training: the first call timed on its own ("first step s": tracing the step, then running it), `--warmup` steps
(the first runs) untimed, then `--steps` timed, the trainer's own loop on the real
CIFAR-10 sample shipped in examples/data, at the set's batch unless --batch. FLOPs are TensorFlow's static count of
one forward and backward pass (matmuls and convolutions; a loop body counts once, so for the recurrent families the
MFU is a lower bound); MFU is that rate over the rate of a 2048x2048 float32 matmul measured in the same process.
Evaluation: images/s of the second of two evaluations of --eval_images test images (the first traces). Sampling:
images/s of the cached sampler at each --sample_batches size, the second of two calls (the first compiles).
--replicas=N splits the CPU into N logical devices under a MirroredStrategy (a GPU machine: its GPUs, N <= their
number); --input_checks=off trains on the unchecked dataset (the input contract's checks skipped) to show their cost;
--onednn=off sets TF_ENABLE_ONEDNN_OPTS=0 for the process (imgtf's default turns TensorFlow's oneDNN kernels on).
Building: seconds of `imgtf.build_model` (every variable created) for the set on CIFAR-10, the first in the fresh
process (what every command pays before its work) and a second one; with --measure=build alone the A/B ratio is of
the first build.
"""
import argparse
import contextlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types

from common import CIFAR10_SAMPLE, REPO, cifar_model_and_problem, distinct_tiny_sets, record, run_with_results


# -- in the measuring process ----------------------------------------------------------------------------------------
def evaluator_of(trainer):
    """The evaluator of a trainer's run; a baseline tree from before imgtf.evaluation evaluates through its trainer."""
    try:
        from imgtf.evaluation.evaluator import Evaluator
    except ImportError:
        return types.SimpleNamespace(batch_size=trainer.eval_batch_size, evaluate=trainer.evaluate)
    return Evaluator.of(trainer)


def matmul_flops_per_second(size=2048, repeats=10):
    """FLOP/s of a size x size float32 matmul: this process's attainable rate, the denominator of MFU."""
    import tensorflow as tf

    a = tf.random.normal([size, size])
    multiply = tf.function(lambda x: tf.reduce_sum(tf.linalg.matmul(x, x)))
    float(multiply(a))
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            value = multiply(a)
        float(value)
        best = max(best, 2.0 * size ** 3 * repeats / (time.perf_counter() - start))
    return best


def step_flops(trainer, batch):
    """Static FLOPs of one forward and backward pass over `batch` (TensorFlow's graph profiler)."""
    import tensorflow as tf

    model = trainer.model

    @tf.function(autograph=False)
    def gradients(features):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model.negative_log_likelihood(features, training=True))
        return tape.gradient(loss, model.trainable_variables)

    graph = gradients.get_concrete_function(batch).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder(
        tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()).with_empty_output().build()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return tf.compat.v1.profiler.profile(graph, options=options).total_float_ops


def sampling_features(trainer, batch):
    """What the model's sampler needs besides the seed: labels, low-resolution inputs (real test images)."""
    model, features = trainer.model, {}
    if getattr(model, "uses_label", False):
        features["label"] = [i % model.num_classes for i in range(batch)]
    if getattr(model, "uses_encoder", False):
        images = next(iter(trainer.problem.dataset("test", trainer.data_dir, batch)))["inputs"].numpy()
        features["inputs"] = images
    return features


def step_graph(trainer):
    """The compiled training call's ops (nested functions included) as "N ops, <hash of their histogram>": two trees
    whose training step is the same graph show the same text."""
    import collections
    import hashlib

    calls = trainer.train_step._calls if hasattr(trainer, "train_step") else {None: trainer._train_fn}  # older trees
    graph = [f for fn in calls.values() for f in fn._list_all_concrete_functions()][0].graph.as_graph_def()
    ops = collections.Counter(node.op for node in graph.node)
    for function in graph.library.function:
        ops.update(node.op for node in function.node_def)
    digest = hashlib.sha256(json.dumps(sorted(ops.items())).encode()).hexdigest()[:12]
    return f"{sum(ops.values())} ops, {digest}"


def measure(config):
    """One configuration in this process -> a dict of figures."""
    import logging
    import resource

    import imgtf  # the tree on PYTHONPATH
    from imgtf.train import distribution

    replicas = config["replicas"]
    if replicas > 1:
        distribution.split_cpu(replicas)  # before TensorFlow starts (a GPU machine mirrors its GPUs instead)
    import tensorflow as tf

    from imgtf import catalog
    from imgtf.models.inputs import InputContract
    from imgtf.train import run_dir
    from imgtf.train.trainer import Trainer
    try:  # the memory bound imgtf-trainer checks (in imgtf.train in older trees; trees before it have none)
        from imgtf.errors import TrainingError
        try:
            from imgtf.models import footprint
        except ImportError:
            from imgtf.train import footprint
    except ImportError:
        footprint = None

    logging.getLogger("imgtf").setLevel(logging.ERROR)
    catalog.load_builtins()
    if config["input_checks"] == "off":
        InputContract.checked_dataset = lambda self, dataset, where="": dataset
    strategy = None
    if replicas > 1:
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))][:replicas]
        strategy = tf.distribute.MirroredStrategy(devices)
    model_name, problem = cifar_model_and_problem(config["set"])
    overrides = ",".join(o for o in (config["hparams"], f"batch_size={config['batch']}" if config["batch"] else "")
                         if o)
    result = {"imgtf": os.path.dirname(imgtf.__file__)}
    if "build" in config["measure"]:  # first: the fresh process's first model, as a command builds it
        for key in ("build_s", "build_again_s"):
            start = time.perf_counter()
            imgtf.build_model(config["set"], problem=problem, hparams=overrides, model=model_name)
            result[key] = time.perf_counter() - start
        if config["measure"] == ["build"]:
            return result
    never = 10 ** 9
    with tempfile.TemporaryDirectory() as out:
        if config["xla"] == "auto" and not hasattr(distribution, "use_xla"):  # a tree before --xla=auto
            return {**result, "error": "this tree's Trainer has no xla='auto' (it would read the string as True); "
                                       "time it with --xla=off,on"}
        distribution.set_precision(config["precision"])
        if config.get("image_size"):  # square images of that side: the folder's real photographs, area-resized
            problem = "image_folder"
        spec = run_dir.resolve(out, problem, model_name, config["set"], overrides,
                               problem_options=f"image_size={config['image_size']}" if config.get("image_size") else "")
        on_accelerator = getattr(distribution, "on_accelerator", None)
        if footprint and on_accelerator and not on_accelerator(strategy or tf.distribute.get_strategy()):
            try:  # what imgtf-trainer refuses before building, refused here with its estimate
                footprint.check_fits(spec.hparams, spec.problem_info or spec.make_problem().info,
                                     spec.hparams.batch_size * replicas)
            except TrainingError as e:
                return {**result, "error": str(e)}
        trainer = Trainer(spec, out, config["data_dir"], strategy=strategy, seed=0, precision=config["precision"],
                          xla={"on": True, "off": False}.get(config["xla"], config["xla"]))
        per_loop, warmup, steps = config["steps_per_loop"], config["warmup"], config["steps"]
        warmup = -(-max(warmup, per_loop) // per_loop) * per_loop
        steps = -(-steps // per_loop) * per_loop
        losses = []
        if "train" in config["measure"]:
            start = time.perf_counter()  # the first call traces the step: what every run and test pays once
            trainer.train(per_loop, steps_per_loop=per_loop, checkpoint_every=never, log_every=never)
            result["first_call_s"] = time.perf_counter() - start
            trainer.train(warmup, steps_per_loop=per_loop, checkpoint_every=never, log_every=never)
            start = time.perf_counter()
            trainer.train(warmup + steps, steps_per_loop=per_loop, checkpoint_every=never, log_every=never,
                          on_step=lambda step, loss: losses.append(loss))
            seconds = (time.perf_counter() - start) / steps
            result.update(step_ms=1000 * seconds, images_per_s=trainer.global_batch_size / seconds,
                          batch=trainer.global_batch_size, loss=float(losses[-1]), xla=bool(trainer.xla))
            if replicas == 1 and config.get("flops", True):  # the FLOP count: one device only (traced outside it)
                batch = next(iter(trainer.problem.dataset("train", config["data_dir"], trainer.global_batch_size)))
                flops, peak = step_flops(trainer, batch), matmul_flops_per_second()
                result.update(gflop_per_step=flops / 1e9, matmul_tflops=peak / 1e12, mfu=flops / seconds / peak)
        if "graph" in config["measure"]:
            if "train" not in config["measure"]:
                trainer.train(per_loop, steps_per_loop=per_loop, checkpoint_every=never, log_every=never)
            result["step_graph"] = step_graph(trainer)
        if "eval" in config["measure"]:
            evaluator = evaluator_of(trainer)
            batches = -(-config["eval_images"] // evaluator.batch_size)
            evaluator.evaluate("test", eval_steps=batches)
            again = evaluator.evaluate("test", eval_steps=batches)
            result.update(eval_images_per_s=again["images_per_sec"], eval_batch=evaluator.batch_size)
        if "sample" in config["measure"]:
            for size in config["sample_batches"]:
                features = sampling_features(trainer, size)
                trainer.model.sample(size, seed=0, **features)
                start = time.perf_counter()
                trainer.model.sample(size, seed=1, **features)
                result[f"sample_images_per_s@{size}"] = size / (time.perf_counter() - start)
        distribution.set_precision("float32")
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return result


# -- in the driving process -------------------------------------------------------------------------------------------
def run_measurement(tree, config, timeout_s):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([tree, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
               TF_ENABLE_ONEDNN_OPTS="1" if config["onednn"] == "on" else "0")
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), f"--child={json.dumps(config)}"], env=env,
                          capture_output=True, text=True, timeout=timeout_s, cwd=tempfile.gettempdir())
    try:
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        tail = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "no output"
        return {"error": f"exit {proc.returncode}: {tail[:300]}"}
    if os.path.realpath(os.path.dirname(result.get("imgtf", tree + "/imgtf"))) != os.path.realpath(tree):
        return {"error": f"imported imgtf from {result['imgtf']}, not from the tree under test {tree}"}
    return result


@contextlib.contextmanager
def worktree(commit):
    """A detached git worktree of `commit`, removed afterwards."""
    path = tempfile.mkdtemp(prefix="imgtf-baseline-")
    subprocess.run(["git", "worktree", "add", "--detach", "--force", path, commit], cwd=REPO, check=True,
                   capture_output=True)
    try:
        yield path
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", path], cwd=REPO, capture_output=True)
        shutil.rmtree(path, ignore_errors=True)


FIGURES = [("build_s", "build s", "{:.2f}"), ("build_again_s", "build again s", "{:.2f}"),
           ("first_call_s", "first step s", "{:.2f}"), ("step_ms", "ms/step", "{:.1f}"), ("images_per_s", "img/s", "{:.1f}"), ("mfu", "MFU", "{:.1%}"),
           ("loss", "loss", "{:.6f}"), ("eval_images_per_s", "eval img/s", "{:.1f}"),
           ("peak_rss_mib", "peak MiB", "{:.0f}"), ("step_graph", "training step graph", "{}")]


def median_of(results, key):
    values = [r[key] for r in results if key in r]
    if values and isinstance(values[0], str):  # a description (the step's graph): the same in every round, or not
        return values[0] if len(set(values)) == 1 else "differs by round"
    return statistics.median(values) if values else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="imagetransformer_cifar10_tiny", help="comma-separated, or 'all' (tiny)")
    parser.add_argument("--batch", type=int, default=0, help="batch per replica (default: each set's batch_size)")
    parser.add_argument("--hparams", default="", help="`;`-separated hparams override strings, one row each")
    parser.add_argument("--precision", default="float32", help="comma-separated: float32, bfloat16, float16")
    parser.add_argument("--xla", default="off", help="comma-separated: off, on")
    parser.add_argument("--steps_per_loop", default="1", help="comma-separated values")
    parser.add_argument("--replicas", default="1", help="comma-separated: devices of a MirroredStrategy")
    parser.add_argument("--input_checks", default="on", help="comma-separated: on, off")
    parser.add_argument("--onednn", default="on", help="comma-separated: on, off (TF_ENABLE_ONEDNN_OPTS)")
    parser.add_argument("--measure", default="train", help="comma-separated: train, eval, sample, graph (the compiled "
                        "training step's op count and a hash of its ops: equal for the same graph), build")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed training steps first")
    parser.add_argument("--eval_images", type=int, default=256)
    parser.add_argument("--sample_batches", default="1,64")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved repetitions (A B A B ...)")
    parser.add_argument("--baseline", default="", help="a commit to time against this tree (A/B)")
    parser.add_argument("--data_dir", default=CIFAR10_SAMPLE)
    parser.add_argument("--timeout_s", type=int, default=1800, help="per measurement")
    parser.add_argument("--results_name", default="timing", help="docs/results/<name>.md and .json")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(json.loads(args.child))))
        return

    sets = distinct_tiny_sets() if args.sets == "all" else [s for s in args.sets.split(",") if s]
    configs = [dict(set=s, hparams=h, batch=args.batch, precision=p, xla=x, steps_per_loop=int(n), replicas=int(r),
                    input_checks=c, onednn=o, steps=args.steps, warmup=args.warmup, measure=args.measure.split(","),
                    eval_images=args.eval_images, sample_batches=[int(b) for b in args.sample_batches.split(",")],
                    data_dir=args.data_dir)
               for s in sets for h in args.hparams.split(";") for p in args.precision.split(",")
               for x in args.xla.split(",") for n in args.steps_per_loop.split(",")
               for r in args.replicas.split(",") for c in args.input_checks.split(",")
               for o in args.onednn.split(",")]
    varied = [key for key in ("hparams", "precision", "xla", "steps_per_loop", "replicas", "input_checks", "onednn")
              if len({str(c[key]) for c in configs}) > 1]
    figures = list(FIGURES) + [(f"sample_images_per_s@{b}", f"sample img/s @{b}", "{:.2f}")
                               for b in args.sample_batches.split(",")]
    with worktree(args.baseline) if args.baseline else contextlib.nullcontext() as base:
        trees = [("A", REPO)] + ([("B", base)] if base else [])
        results = {(i, name): [] for i in range(len(configs)) for name, _ in trees}
        for round_ in range(args.rounds):
            for i, config in enumerate(configs):
                for name, tree in trees:
                    result = run_measurement(tree, config, args.timeout_s)
                    results[i, name].append(result)
                    shown = ", ".join(f"{label} {fmt.format(result[key])}" for key, label, fmt in figures
                                      if key in result)
                    setting = " ".join(f"{key}={config[key]}" for key in varied)
                    print(f"round {round_ + 1} {name} {config['set']} {setting}: {result.get('error') or shown}",
                          file=sys.stderr, flush=True)

    fixed = ", ".join(f"{key} {configs[0][key]}" for key in ("hparams", "precision", "xla", "steps_per_loop",
                                                             "replicas", "input_checks", "onednn")
                      if key not in varied and configs[0][key] != "")
    head = (f"{len(configs)} configuration(s), {args.rounds} round(s); {fixed}; batch "
            f"{args.batch or 'of each set'}"
            + (f"; training: {args.warmup} untimed steps, then {args.steps} timed" if "train" in args.measure else "")
            + (f"; A = this tree, B = {args.baseline}, interleaved (A B A B ...)" if args.baseline else ""))
    print(head + "\n")
    shown = [(k, label, fmt) for k, label, fmt in figures
             if any(k in r for rs in results.values() for r in rs)]
    columns = ["set"] + varied + ["tree"] + [label for _, label, _ in shown]
    first_calls = args.baseline and "train" in args.measure
    if args.baseline:
        columns += ["B/A time per round", "median B/A"] + (["median B/A first step"] if first_calls else [])
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * (len(varied) + 2) + "---:|" * (len(columns) - len(varied) - 2))
    table = []
    for i, config in enumerate(configs):
        for name, _ in trees:
            rs = results[i, name]
            errors = [r["error"] for r in rs if "error" in r]
            cells = [f"`{config['set']}`"] + [str(config[key]) for key in varied] + [name]
            row = {"config": config, "tree": name, "rounds": rs}
            for key, _, fmt in shown:
                value = median_of(rs, key)
                cells.append(fmt.format(value) if value is not None else ("error" if errors else "n/a"))
            if args.baseline:
                if name == "B":
                    timed = "step_ms" if "train" in args.measure else "build_s"
                    pairs = [b[timed] / a[timed] for a, b in zip(results[i, "A"], rs) if timed in a and timed in b]
                    row["ratios"] = pairs
                    cells += [", ".join(f"{p:.2f}" for p in pairs) or "n/a",
                              f"**{statistics.median(pairs):.2f}x**" if pairs else "n/a"]
                    if first_calls:
                        firsts = [b["first_call_s"] / a["first_call_s"] for a, b in zip(results[i, "A"], rs)
                                  if "first_call_s" in a and "first_call_s" in b]
                        row["first_call_ratios"] = firsts
                        cells.append(f"{statistics.median(firsts):.2f}x" if firsts else "n/a")
                else:
                    cells += ["", ""] + ([""] if first_calls else [])
            print("| " + " | ".join(cells) + " |")
            table.append(row)
            for error in errors[:1]:
                print(f"\n{name} {config['set']}: {error}\n")
    record(configurations=table)


if __name__ == "__main__":
    name = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--results_name=")), "timing")
    run_with_results(name, main)
