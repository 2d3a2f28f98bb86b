"""A run's checkpoint files: finding them, rebuilding a lost index, and restoring the newest readable one (used by
the trainer, and by `imgtf.load_run`, which restores the model's weights only)."""
import logging
import os

import tensorflow as tf

log = logging.getLogger("imgtf")


class CheckpointError(RuntimeError):
    """No checkpoint of a run could be restored; the message lists why for each."""


def checkpoint_files(output_dir):
    """{step: prefix} of every `ckpt-N` whose index file is in the run directory."""
    found = {}
    for index in tf.io.gfile.glob(os.path.join(output_dir, "ckpt-*.index")):
        number = os.path.basename(index)[len("ckpt-"):-len(".index")]
        if number.isdigit():
            found[int(number)] = index[:-len(".index")]
    return found


def recover_checkpoint_index(output_dir):
    """If `ckpt-N` files exist but the `checkpoint` index file is missing, unreadable, does not list them (a partial
    copy, a sync tool) or lists files outside the run (a run copied or moved after an index was written with absolute
    paths), rebuild it from the run's own files, newest last as TensorFlow writes it, with a warning. Without this the
    run would silently start again from step 0 and overwrite the checkpoints by name, or resume from another
    directory's checkpoint and rotate that directory's files away."""
    found = checkpoint_files(output_dir)
    if not found:
        return False
    try:
        state = tf.train.get_checkpoint_state(output_dir)
        recorded = list(state.all_model_checkpoint_paths) + [state.model_checkpoint_path] if state else []
    except Exception:  # noqa: BLE001 - a damaged index file fails in many ways; it is rebuilt below
        state, recorded = None, []
    names = {os.path.basename(p) for p in recorded}
    outside = [p for p in recorded if not _inside(p, output_dir)]
    if state is not None and not outside and all(os.path.basename(p) in names for p in found.values()):
        return False
    paths = [found[step] for step in sorted(found)]
    why = ("missing or unreadable" if state is None else
           f"listing files outside the run ({outside[0]})" if outside else "incomplete")
    log.warning("the checkpoint index of %s is %s; rebuilt it from the %d checkpoint files there (newest %s).",
                output_dir, why, len(paths), os.path.basename(paths[-1]))
    write_checkpoint_index(output_dir, paths)
    return True


def _inside(path, output_dir):
    """Whether a path the index lists names a file directly in the run directory (as TensorFlow's relative paths do)."""
    if "://" in output_dir:
        return os.path.dirname(path) == output_dir.rstrip("/")
    return os.path.realpath(os.path.dirname(path)) == os.path.realpath(output_dir)


def write_checkpoint_index(output_dir, paths):
    """Write the `checkpoint` index listing `paths` (oldest first; the last is the one restored) relative to the run
    (so a copied or moved run still lists its own files), with the files' times, which CheckpointManager needs to keep
    them listed (and to rotate them) from then on."""
    times = [tf.io.gfile.stat(path + ".index").mtime_nsec / 1e9 for path in paths]
    names = [os.path.basename(path) for path in paths]
    tf.compat.v1.train.update_checkpoint_state(output_dir, names[-1], all_model_checkpoint_paths=names,
                                               all_model_checkpoint_timestamps=times)


def listed(output_dir):
    """The checkpoint paths the run's `checkpoint` index lists, oldest first ([] if it is missing or unreadable), each
    taken as the file of that name in the run directory: a run reads only its own checkpoints, whatever directory an
    index copied with it names."""
    try:
        state = tf.train.get_checkpoint_state(output_dir)
    except Exception:  # noqa: BLE001 - a damaged index file fails in many ways
        state = None
    return [os.path.join(output_dir, os.path.basename(p)) for p in state.all_model_checkpoint_paths] if state else []


def newest_first(output_dir):
    """Checkpoint paths of a run, newest first: those its index lists, and any `ckpt-N` files it does not (a lost or
    partial index), without writing anything."""
    listed_paths = list(reversed(listed(output_dir)))
    names = {os.path.basename(p) for p in listed_paths}
    found = checkpoint_files(output_dir)
    unlisted = [found[step] for step in sorted(found, reverse=True) if os.path.basename(found[step]) not in names]
    return sorted(listed_paths + unlisted, key=_step_of, reverse=True)


def newest_step(output_dir):
    """The step of a run's newest checkpoint (by its name, nothing restored), or 0 if it has none."""
    paths = newest_first(output_dir) if os.path.isdir(output_dir) else []
    return max(_step_of(paths[0]), 0) if paths else 0


def _step_of(path):
    number = os.path.basename(path).rsplit("-", 1)[-1]
    return int(number) if number.isdigit() else -1


def check_checkpoint_path(path, flag="--checkpoint_path"):
    """Refuse a named checkpoint that is not one: missing, a directory, or files without their index."""
    if os.path.isdir(path):
        raise CheckpointError(f"{flag}={path} is a directory: name one checkpoint of a run, e.g. "
                              f"{os.path.join(path, 'ckpt-200')} (the prefix of its ckpt-200.index file).")
    if not tf.io.gfile.exists(path + ".index"):
        found = sorted(checkpoint_files(os.path.dirname(path) or ".")) if os.path.isdir(os.path.dirname(path) or
                                                                                          ".") else []
        there = f"; that folder has ckpt-{', ckpt-'.join(map(str, found))}" if found else ""
        raise CheckpointError(f"{flag}={path}: no such checkpoint ({path}.index is missing{there}).")


def restore_newest(new_checkpoint, output_dir, checkpoint_path=None, partial=False):
    """Restore into `new_checkpoint()` (a tf.train.Checkpoint of the objects to restore, made afresh for each try: a
    failed restore leaves the one it used tied to the files it failed on) from `checkpoint_path`, or from the newest
    readable checkpoint in `output_dir`: a damaged newest one (e.g. a crash while it was written) is skipped with a
    warning in favour of the previous one; one deleted while it was read (a live trainer rotating its checkpoints)
    sends it to the newer ones listed since. Returns the restored path, or None if the run has none; CheckpointError if none can be read.
    `partial`: the checkpoint holds more than `checkpoint` asks for (e.g. optimizer state when loading weights)."""
    errors, tried = [], set()
    for _ in range(5):  # a live trainer may delete the listed checkpoints meanwhile: list again, up to a few times
        candidates = [checkpoint_path] if checkpoint_path else [p for p in newest_first(output_dir) if p not in tried]
        rotated = False
        for path in candidates:
            tried.add(path)
            try:
                status = new_checkpoint().restore(path)
                if partial:
                    status.expect_partial()  # no warnings about the values left unread
                status.assert_existing_objects_matched()  # every variable asked for got its value
            except (tf.errors.OpError, AssertionError, ValueError, IndexError, KeyError) as e:  # damaged files
                if not checkpoint_path and not tf.io.gfile.exists(path + ".index"):
                    rotated = True  # deleted by the trainer that keeps only its newest checkpoints: not damaged
                    break
                errors.append(f"{path}: {type(e).__name__}: {str(e).splitlines()[0]}")
                log.warning("cannot restore %s (%s); trying an older checkpoint.", path, errors[-1])
                continue
            return path
        if not rotated:
            break
    if checkpoint_path and errors:
        raise CheckpointError(f"{checkpoint_path} cannot be restored into the model of the run in {output_dir} "
                              f"({errors[0].split(': ', 1)[-1]}): it is damaged, or a checkpoint of another model or "
                              "hparams. Name a checkpoint of this run, or evaluate it with its own run directory.")
    if errors or tried:
        why = "; ".join(errors) or "each was deleted while it was read (a trainer keeping few checkpoints)"
        raise CheckpointError(f"no checkpoint in {output_dir} could be restored: {why}. Point --output_dir elsewhere "
                              "to start afresh.")
    return None
