"""Training the emotion CNN: seeded, checkpointed every epoch, resumable.

Layout of a run folder (`--out`, default runs/emotion):
  config.json        the TrainConfig the run started with (a resumed run keeps it)
  checkpoint.keras   model + optimizer state after the last finished epoch
  state.json         last finished epoch, best validation accuracy so far, per-epoch history
  best.keras         the model of the epoch with the best validation accuracy (selection on `val`)
  teacher.npy        with a teacher: its probabilities for every training image, computed once at the start
  teacher.json       with a teacher: the files (and sha256) the probabilities came from

Train on `train`, select on `val` (PublicTest); the test split is never looked at here.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.labels import EMOTIONS
from pipeline.core.paths import default_data
from pipeline.modelling import DEFAULT_WIDTHS
from pipeline.modelling.data import DataError, Split, load_splits, scored_labels


@dataclass(frozen=True)
class TrainConfig:
    data: str = field(default_factory=lambda: str(default_data()))
    labels: str = "fer2013"
    epochs: int = 80
    batch_size: int = 64
    learning_rate: float = 0.015
    warmup_epochs: int = 2
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    class_weight_power: float = 0.5  # 0: no re-weighting, 1: inverse frequency
    original_weight: float = 0.0  # ferplus-votes: share of the original FER-2013 label mixed into the targets
    original_where_voted: bool = False  # mix the original label in only where an annotator voted for its class
    webcam_augment: bool = False  # also blur, gamma and sensor noise like a webcam's (model.webcam_degrade)
    domain_augment: bool = False  # wider framing, resolution, JPEG, gamma, occluders (model.domain_degrade)
    lower_face_occlusion: float = 0.0  # share of faces trained with everything below the nose hidden
    wild: str | None = None  # muxspace's folder: its faces, cut by the app's detector and crop, added to training
    wild_per_class: int | None = None  # keep at most this many of muxspace's faces per class (balanced); None: all
    init: str | None = None  # a .keras model to start from (fine-tuning) instead of random weights
    mixup_alpha: float = 0.0  # > 0: blend pairs of training images and their targets (model.mixup)
    equalize: bool = False  # histogram-equalise every image first (compared in benchmarks.regularisers; not shipped)
    teacher: str | None = None  # a model folder whose probabilities are mixed into the targets (distillation)
    teacher_weight: float = 0.5  # with a teacher: its share of each target
    seed: int = 1234
    limit: int | None = None  # use only the first N training images (tests, smoke runs)
    widths: tuple[int, ...] = DEFAULT_WIDTHS


def class_weights(labels: np.ndarray, power: float) -> np.ndarray:
    """Per-class loss weights (inverse frequency)**power, scaled so the average training sample weighs 1."""
    counts = np.bincount(labels, minlength=len(EMOTIONS)).astype(np.float64)
    weights = np.where(counts > 0, (counts.sum() / np.maximum(counts, 1)) ** power, 0.0)
    return weights / (weights[labels].mean())


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _atomic_save(model, path: Path) -> None:
    tmp = path.with_name(path.stem + ".tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)


def to_inputs(images: np.ndarray, equalize: bool = False) -> np.ndarray:
    """uint8 (N, 48, 48) -> the network's float (N, 48, 48, 1) in [0, 1], histogram-equalised first if asked."""
    if equalize:
        import cv2

        images = np.stack([cv2.equalizeHist(image) for image in images])
    return (images.astype(np.float32) / 255.0)[..., None]


def teacher_targets(config: TrainConfig, split: Split, out: Path) -> Split:
    """The split with each target mixed with a teacher's probabilities for the image: (1 - w) * target + w *
    teacher. The teacher (a model folder, an ensemble's members averaged, no temperature) classifies the plain
    images and their mirror images once; its answers, the two averaged, are kept in the run folder, so --resume
    needs no teacher."""
    cache, account = out / "teacher.npy", out / "teacher.json"
    if cache.exists():
        probs = np.load(cache)
    else:
        from pipeline.runtime.emotion.classifier import EmotionClassifier

        classifier = EmotionClassifier.load(Path(config.teacher or ""), calibrated=False)
        batches = []
        for i in range(0, len(split), 256):
            images = split.images[i : i + 256]
            batches.append((classifier.predict(images) + classifier.predict(images[:, :, ::-1])) / 2.0)
        probs = np.concatenate(batches).astype(np.float32)
        tmp = cache.with_name("teacher.tmp.npy")
        np.save(tmp, probs)
        os.replace(tmp, cache)
        _atomic_write_text(account, json.dumps({"teacher": config.teacher, "files": classifier.files}, indent=2))
    if probs.shape != (len(split), len(EMOTIONS)):
        raise DataError(f"{cache} holds {probs.shape} teacher probabilities for {len(split)} training images")
    mixed = (1.0 - config.teacher_weight) * split.training_targets() + config.teacher_weight * probs
    return replace(split, targets=mixed.astype(np.float32))


def wild_split(config: TrainConfig, out: Path) -> Split:
    """muxspace's faces as a training split (targets one-hot: one labeller each), cut once into the run folder."""
    from pipeline.modelling.wild import cached_wild_crops

    images, labels, account = cached_wild_crops(Path(config.wild or ""), out / "wild_crops.npz")
    if config.wild_per_class is not None:
        keep = balanced_subset(labels, config.wild_per_class, config.seed)
        images, labels = images[keep], labels[keep]
        account = {**account, "per_class": config.wild_per_class, "kept": len(keep)}
    _atomic_write_text(out / "wild.json", json.dumps({"wild": config.wild, **account}, indent=2))
    return Split("wild", images, labels, "wild", np.eye(len(EMOTIONS), dtype=np.float32)[labels])


def balanced_subset(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Indices (sorted) of at most `per_class` faces of each class, drawn at random from `seed`: muxspace is
    half neutral and 40% happy, so taken whole it would mostly teach those two."""
    rng = np.random.default_rng(seed)
    keep = [
        rng.choice(members, size=min(per_class, len(members)), replace=False)
        for members in (np.flatnonzero(labels == label) for label in range(len(EMOTIONS)))
        if len(members)
    ]
    return np.sort(np.concatenate(keep))


def joined(first: Split, second: Split) -> Split:
    """Two training splits as one (targets made explicit for both)."""
    return Split(
        first.name,
        np.concatenate([first.images, second.images]),
        np.concatenate([first.labels, second.labels]),
        first.labels_name,
        np.concatenate([first.training_targets(), second.training_targets()]),
    )


def _train_dataset(tf, split: Split, weights: np.ndarray, config: TrainConfig, epoch: int):
    """One epoch's batches: shuffled and augmented from (seed, epoch), so a resumed epoch is the same epoch."""
    from pipeline.modelling.network import augment, mixup

    x = to_inputs(split.images, config.equalize)
    y = split.training_targets()
    w = weights[split.labels].astype(np.float32)
    order = np.random.default_rng([config.seed, epoch]).permutation(len(x))
    ds = tf.data.Dataset.from_tensor_slices((x[order], y[order], w[order])).batch(config.batch_size)

    def augment_batch(index, batch):
        images, targets, sample_weights = batch
        seed = tf.stack([tf.constant(config.seed + 7919 * epoch, tf.int64), index])
        images = augment(
            images,
            seed,
            webcam=config.webcam_augment,
            domain=config.domain_augment,
            lower_face=config.lower_face_occlusion,
        )
        if config.mixup_alpha > 0:
            mix_seed = tf.random.experimental.stateless_fold_in(seed, 2)
            images, targets, sample_weights = mixup(images, targets, sample_weights, config.mixup_alpha, mix_seed)
        return images, targets, sample_weights

    return ds.enumerate().map(augment_batch, num_parallel_calls=1).prefetch(2)


def _compile(model, config: TrainConfig, steps_per_epoch: int) -> None:
    import keras

    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        warmup_target=config.learning_rate,
        warmup_steps=config.warmup_epochs * steps_per_epoch,
        decay_steps=max(1, (config.epochs - config.warmup_epochs) * steps_per_epoch),
    )
    model.compile(
        optimizer=keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=["accuracy"],
        # Not XLA: on the CPU it is 2.7 times slower than TensorFlow's own oneDNN kernels for this net
        # (200 batches of 64: 86.7 s with jit_compile, 32.1 s without; the mixed bfloat16 policy, 44.9 s).
        jit_compile=False,
    )


def _load_config(out: Path, requested: TrainConfig, resume: bool) -> TrainConfig:
    config_path = out / "config.json"
    if resume and config_path.exists():
        stored = json.loads(config_path.read_text())
        stored["widths"] = tuple(stored["widths"])
        # A resumed run keeps its configuration (its learning-rate schedule is fixed at the start), except
        # where the data lies: that is the machine's business, not the run's (--data, or the default place).
        return TrainConfig(**{**stored, "data": requested.data})
    if not resume and (out / "checkpoint.keras").exists():
        raise DataError(f"{out} already holds a training run: pass --resume to continue it or choose another --out")
    return requested


def train(requested: TrainConfig, out: Path, resume: bool = False, console=None) -> dict:
    """Train (or continue training) into `out`; returns the final state (epoch, best_val_accuracy, history)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = console or Console(stderr=True)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = _load_config(out, requested, resume)
    if config.epochs != requested.epochs:
        console.log(f"note: {out} was started for {config.epochs} epochs and keeps that schedule")
    train_split = load_splits(
        Path(config.data), config.labels, ("train",), config.original_weight, config.original_where_voted
    )["train"]
    # Selection on val by the labels that are reported: the FER+ majority for a model trained on the FER+ votes.
    val_labels = scored_labels(config.labels)
    val_split = load_splits(Path(config.data), val_labels, ("val",))["val"]
    if config.limit:
        train_split = train_split.subset(np.arange(min(config.limit, len(train_split))))
    if config.teacher:
        train_split = teacher_targets(config, train_split, out)
    if config.wild:
        train_split = joined(train_split, wild_split(config, out))

    import keras
    import tensorflow as tf

    from pipeline.modelling.network import build_model

    steps_per_epoch = -(-len(train_split) // config.batch_size)
    state: dict[str, Any] = {
        "epoch": 0,
        "best_val_accuracy": 0.0,
        "best_epoch": 0,
        "history": [],
        "seconds": 0.0,
        "val_labels": val_labels,
        "val_images": len(val_split),
    }
    checkpoint = out / "checkpoint.keras"
    if resume and checkpoint.exists():
        model = keras.models.load_model(checkpoint, safe_mode=True)
        state = json.loads((out / "state.json").read_text())
        _compile_from_loaded = model.optimizer is not None
        if not _compile_from_loaded:  # pragma: no cover - a checkpoint always carries its optimizer
            _compile(model, config, steps_per_epoch)
        console.log(f"resuming {out} after epoch {state['epoch']} (best val acc {state['best_val_accuracy']:.4f})")
    else:
        keras.utils.set_random_seed(config.seed)
        model = build_model(widths=config.widths, weight_decay=config.weight_decay)
        if config.init:
            # Fine-tuning: the same architecture, its weights from an earlier run (the optimizer starts afresh).
            model.set_weights(keras.models.load_model(config.init, safe_mode=True).get_weights())
        _compile(model, config, steps_per_epoch)
        cfg = asdict(config)
        _atomic_write_text(out / "config.json", json.dumps(cfg, indent=2))

    weights = class_weights(train_split.labels, config.class_weight_power)
    val_x = to_inputs(val_split.images, config.equalize)
    val_y = np.eye(len(EMOTIONS), dtype=np.float32)[val_split.labels]

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("", total=config.epochs, completed=state["epoch"])
        for epoch in range(state["epoch"], config.epochs):
            started = time.perf_counter()
            keras.utils.set_random_seed(config.seed + epoch)  # dropout masks: same on a resumed epoch
            progress.update(task, description=f"epoch {epoch + 1}/{config.epochs}")
            history = model.fit(_train_dataset(tf, train_split, weights, config, epoch), epochs=1, verbose=0)
            val_loss, val_acc = model.evaluate(val_x, val_y, batch_size=256, verbose=0)
            seconds = time.perf_counter() - started
            record = {
                "epoch": epoch + 1,
                "loss": float(history.history["loss"][-1]),
                "accuracy": float(history.history["accuracy"][-1]),
                "val_loss": float(val_loss),
                "val_accuracy": float(val_acc),
                "seconds": round(seconds, 1),
            }
            state["history"].append(record)
            state["epoch"] = epoch + 1
            state["seconds"] = state.get("seconds", 0.0) + seconds
            if val_acc > state["best_val_accuracy"]:
                state["best_val_accuracy"], state["best_epoch"] = float(val_acc), epoch + 1
                _atomic_save(model, out / "best.keras")
            _atomic_save(model, checkpoint)
            _atomic_write_text(out / "state.json", json.dumps(state, indent=2))
            progress.update(
                task,
                advance=1,
                description=(
                    f"epoch {epoch + 1}/{config.epochs} loss {record['loss']:.3f} "
                    f"val acc {val_acc:.4f} (best {state['best_val_accuracy']:.4f})"
                ),
            )
            console.log(
                f"epoch {epoch + 1}: loss {record['loss']:.4f} acc {record['accuracy']:.4f} "
                f"val_loss {val_loss:.4f} val_acc {val_acc:.4f} ({seconds:.0f}s)"
            )
    return state
