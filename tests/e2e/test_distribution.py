"""tf.distribute strategies on this CPU: mirrored over two logical devices and two local workers. Both need processes
of their own (TensorFlow fixes its devices at start-up); every process is bounded by a timeout and ends by itself."""
import json
import os
import socket
import subprocess
import sys

import numpy as np
import tensorflow as tf

from conftest import REPO
from helpers.models import smallest

# Adam with a large epsilon moves weights in proportion to the gradient, so equal gradients <=> equal weights
LINEAR_ADAM = ",optimizer_adam_epsilon=1.0,learning_rate_schedule=constant,learning_rate=0.5"

MIRRORED_SCRIPT = r'''
import json, os, sys
import numpy as np
import imgtf
from imgtf.train import distribution
distribution.split_cpu(2)
import tensorflow as tf
from imgtf import catalog, registry
from imgtf.evaluation import per_image
from imgtf.evaluation.evaluator import Evaluator
from imgtf.train import polyak, run_dir
from imgtf.train.trainer import Trainer
catalog.load_builtins()
folder, out, common = sys.argv[1:4]

def train(strategy, per_replica, directory, model, hparams_set, overrides):
    spec = run_dir.resolve(directory, "image_folder", model, hparams_set, overrides + f",batch_size={per_replica}",
                           problem_options="image_size=8")
    trainer = Trainer(spec, directory, folder, strategy=strategy, seed=1)
    initial = [w.numpy().copy() for w in trainer.model.trainable_weights]
    trainer.train(2, checkpoint_every=10**9, log_every=10**9)
    final = [w.numpy() for w in trainer.model.trainable_weights] + [a.numpy() for a in polyak.averages(trainer.optimizer)]
    entry = Evaluator.of(trainer).evaluate("test", eval_steps=1)
    evaluation = per_image.load(os.path.join(directory, entry["per_image"]))
    return initial, final, trainer.strategy.num_replicas_in_sync, evaluation

# Gated PixelCNN at the shrink rule's depth, weight-normalised (initialised from data before step 1) and with Polyak
# averages: replica equality, data-dependent init and Polyak averaging do not depend on the family, depth or image
# size, so the cheapest model that has all three. It has no dropout (each replica would draw its masks for its part of
# the batch, not the single device's masks for the whole batch).
extra = "hidden_size=8,weight_norm=true," + common
init_m, mirrored, replicas, eval_m = train(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), 2,
                                           out + "/mirrored", "gated_pixelcnn", "gated_pixelcnn_cifar10_tiny", extra)
init_s, single, _, eval_s = train(tf.distribute.OneDeviceStrategy("/cpu:0"), 4, out + "/single", "gated_pixelcnn",
                                  "gated_pixelcnn_cifar10_tiny", extra)
result = {"replicas": replicas, "variables": len(mirrored),
          "init_diff": max(float(np.abs(a - b).max()) for a, b in zip(init_m, init_s)),
          "diff": max(float(np.abs(a - b).max()) for a, b in zip(mirrored, single)),
          "moved": max(float(np.abs(a - b).max()) for a, b in zip(init_s, single)),
          "same_images": bool(np.array_equal(eval_m.fingerprint, eval_s.fingerprint)), "images": eval_s.num_images,
          "nll_diff": float(np.abs(eval_m.nll_nats - eval_s.nll_nats).max() / np.abs(eval_s.nll_nats).max())}
print(json.dumps(result))
'''


def run_python(code, *args, env=None, timeout=600):
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout,
                            cwd=REPO, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_mirrored_over_two_cpu_devices_equals_one_device_on_the_same_global_batch(cifar_folder, tmp_path):
    """After 2 steps of a Gated PixelCNN on real 8x8 images (weight normalisation initialised from data, Polyak averages)
    the weights and their averages are the same on 2 replicas as on one device, and so is the evaluation, image by
    image in the same order (the per-image results are gathered over the replicas)."""
    out = run_python(MIRRORED_SCRIPT, cifar_folder, str(tmp_path),
                     smallest("gated_pixelcnn_cifar10_tiny", LINEAR_ADAM[1:] + ",ema_decay=0.5"))
    assert out["replicas"] == 2 and out["init_diff"] == 0.0
    assert out["moved"] > 1e-3  # the steps really changed the weights ...
    assert out["diff"] < 1e-5, out  # ... identically, whether the batch was split over 2 replicas or not
    assert out["same_images"] and out["images"] == 16 and out["nll_diff"] < 1e-5, out


WORKER_SCRIPT = r'''
import json, os, sys
import numpy as np
import imgtf
import tensorflow as tf
from imgtf import catalog, registry
from imgtf.train import run_dir
from imgtf.train.distribution import make_strategy
from imgtf.train.trainer import Trainer
catalog.load_builtins()
folder, out, overrides, index = sys.argv[1:5]
strategy = make_strategy("multi_worker")
# the mirrored test's model and images: what is checked here (the chief, the shared global batch, equal weights on every
# worker, checkpoints written once) does not depend on the family or the image size
spec = run_dir.resolve(out, "image_folder", "gated_pixelcnn", "gated_pixelcnn_cifar10_tiny", overrides,
                       problem_options="image_size=8")
trainer = Trainer(spec, out, folder, strategy=strategy, seed=1)
trainer.train(3, checkpoint_every=2, log_every=10**9)
np.savez(os.path.join(out, f"weights_{index}.npz"), *[w.numpy() for w in trainer.model.trainable_weights])
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "chief": trainer.chief,
                  "global_batch": trainer.global_batch_size}))
'''


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_multi_worker_mirrored_with_two_local_workers(cifar_folder, tmp_path):
    workers = [f"127.0.0.1:{p}" for p in free_ports(2)]
    procs = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": {"worker": workers},
                                                     "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen([sys.executable, "-c", WORKER_SCRIPT, cifar_folder, str(tmp_path),
                                       smallest("gated_pixelcnn_cifar10_tiny", "hidden_size=8,batch_size=4"),
                                       str(index)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, cwd=REPO, env=env))
    outputs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=600)
            assert proc.returncode == 0, err[-3000:]
            outputs.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert [o["chief"] for o in outputs] == [True, False]
    assert all(o["replicas"] == 2 and o["global_batch"] == 8 for o in outputs)
    a, b = np.load(tmp_path / "weights_0.npz"), np.load(tmp_path / "weights_1.npz")
    for key in a.files:
        np.testing.assert_array_equal(a[key], b[key])
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("ckpt-3")  # the chief wrote the checkpoints
    assert not [d for d in os.listdir(tmp_path) if d.startswith(".worker_")]  # scratch saves cleaned up
