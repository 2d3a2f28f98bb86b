"""Sample grids in TensorBoard while training (hparam-free: `imgtf-trainer --sample_every_steps`), so a run shows
how its samples improve, not only its loss."""
import logging
import time

from imgtf.data.errors import reraise_from_pipeline
from imgtf.data.grids import sample_grid
from imgtf.train import polyak

log = logging.getLogger("imgtf")


def write_sample_grid(state, problem, data_dir, metrics, step, num_samples=4):
    """A grid of `num_samples` images from the cached sampler of the run's model (imgtf.train.state.RunState), with its
    Polyak-averaged weights where it keeps them, in TensorBoard under `samples` (seed = the step, so successive grids
    show how the model improves, not a new draw). Conditional models are conditioned on the first images of the
    evaluation split (their labels, or their low-resolution inputs)."""
    model, conditioning = state.model, {}
    if model.uses_label or model.uses_encoder:
        with reraise_from_pipeline():
            batch = next(iter(problem.dataset(problem.eval_split, data_dir, num_samples)))
        conditioning = {k: batch[k].numpy() for k in ("label", "inputs") if k in batch}
        num_samples = len(batch["targets"])
    start = time.time()
    with polyak.averaged_weights(state.optimizer):
        images = model.sample(num_samples, seed=step, **conditioning)
    metrics.image("samples", step, sample_grid(images, num_levels=model.num_levels))
    metrics.flush()
    log.info("step %d: wrote %d samples to TensorBoard (%.1f s)", step, num_samples, time.time() - start)
