"""Keras model -> the runtime model folder: emotion.tflite plus MODEL_CARD.md (the one source of truth).

The exported graph takes the crops exactly as face_crop makes them, (N, 48, 48) uint8, and does the scaling
to [0, 1] itself, so the app feeds crops straight in. With `flip_tta` the graph also classifies each face's
mirror image and averages the two (test-time augmentation baked into the file). Exports leave it out by default:
the app's alignment cycle mirrors every other crop (pipeline.runtime.emotion.crop.jitter_schedule), the better way to
spend the few passes through the network a video frame affords (benchmarks/mirror_passes.py).
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from pipeline.core.files import make_private_dir, sha256_of, write_private_atomic
from pipeline.core.labels import EMOTIONS
from pipeline.core.paths import installed_models_dir
from pipeline.runtime.detector import mtcnn_models
from pipeline.runtime.emotion.calibration import UNCLEAR_METRICS
from pipeline.runtime.emotion.model_card import MODEL_CARD, ModelCard
from pipeline.runtime.model_files import ModelError

MODEL_FILE = "emotion.tflite"

# The paper's per-class F1 on PrivateTest (Table 3), the floor every class must beat.
PAPER_F1 = {"angry": 0.46, "disgust": 0.52, "fear": 0.32, "happy": 0.87, "sad": 0.27, "surprise": 0.75, "neutral": 0.52}
PAPER_ACCURACY = 0.58


def to_tflite(keras_model, *, flip_tta: bool = False, quantize: bool = True) -> bytes:
    """Convert to a TFLite flatbuffer with a (N, 48, 48) uint8 input and (N, 7) probabilities out.

    quantize: dynamic-range quantization (int8 weights; XNNPACK quantizes activations on the fly). On these
    networks it is 3-4x faster than float32 on one core of an AVX-512 CPU (no faster on an AVX2-only one) and 4x
    smaller, at the same val accuracy (benchmarks/emotion_inference.py); `fertui export` checks the accuracy again
    for every model it ships.
    """
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(keras_model)

    @tf.function(input_signature=[tf.TensorSpec([None, 48, 48], tf.uint8, name="faces")])
    def serve(faces):
        x = tf.cast(faces, tf.float32)[..., None] * (1.0 / 255.0)
        if not flip_tta:
            return keras_model(x, training=False)
        n = tf.shape(x)[0]
        both = keras_model(tf.concat([x, tf.reverse(x, axis=[2])], axis=0), training=False)
        return (both[:n] + both[n:]) * 0.5

    archive.add_endpoint("serve", serve)
    with tempfile.TemporaryDirectory() as saved:
        archive.write_out(saved, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        if quantize:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        return converter.convert()


def file_entry(data: bytes, multiply_adds: int, flip_tta: bool) -> dict[str, int | str]:
    """The card's record of one model file: what the loader verifies and what the video crop budget counts
    (the network's multiply-adds per image, twice over when the file also classifies the mirror image)."""
    per_face = multiply_adds * (2 if flip_tta else 1)
    return {"sha256": sha256_of(data), "bytes": len(data), "multiply_adds_per_face": per_face}


def _atomic_write(path: Path, data: bytes) -> None:
    write_private_atomic(path, data)  # owner-only, like every file fertui writes


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}"


def write_model_dir(
    keras_model,
    out_dir: Path | str,
    *,
    unclear: dict | None = None,
    flip_tta: bool = False,
    quantize: bool = True,
    metrics: dict | None = None,
    training: dict | None = None,
) -> Path:
    """Export `keras_model` into out_dir (emotion.tflite + MODEL_CARD.md with its sha256); returns out_dir.

    unclear: {"metric": "margin"|"top_probability", "threshold": float, "criterion": str} (default: never unclear).
    metrics: split name -> an evaluation report (pipeline.modelling.evaluate.report_dict), rendered as tables.
    training: what the run's config.json/state.json say (command, epochs, seconds, machine, ...).
    """
    from pipeline.modelling.network import multiply_adds

    data = to_tflite(keras_model, flip_tta=flip_tta, quantize=quantize)
    return write_model_files(
        data,
        out_dir,
        parameters=int(keras_model.count_params()),
        multiply_adds=multiply_adds(keras_model),
        unclear=unclear,
        flip_tta=flip_tta,
        quantized=quantize,
        metrics=metrics,
        training=training,
    )


def add_detector(out_dir: Path) -> None:
    """Copy the installed MTCNN networks (mtcnn/ and its card) into a models folder that has none: a models folder
    is a whole ModelSet (pipeline.runtime.model_set), so `--models out_dir` runs as it is."""
    target = out_dir / mtcnn_models.FOLDER
    source = installed_models_dir() / mtcnn_models.FOLDER
    if target.exists() or source.resolve() == target.resolve():
        return
    make_private_dir(target)
    for file in sorted(source.iterdir()):
        if file.is_file():
            write_private_atomic(target / file.name, file.read_bytes())


def write_model_files(
    data: bytes,
    out_dir: Path | str,
    *,
    parameters: int,
    multiply_adds: int,
    unclear: dict | None = None,
    flip_tta: bool = False,
    quantized: bool = True,
    metrics: dict | None = None,
    training: dict | None = None,
) -> Path:
    """Write an already converted model and its card (see write_model_dir).

    multiply_adds: the network's, for one image (pipeline.modelling.network.multiply_adds); the card records the
    file's cost per face, the mirror image included when flip_tta.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    add_detector(out_dir)
    unclear = {"metric": "margin", "threshold": 0.0, **(unclear or {})}
    if unclear["metric"] not in UNCLEAR_METRICS:
        raise ValueError(f"unknown unclear metric {unclear['metric']!r}")
    _atomic_write(out_dir / MODEL_FILE, data)
    card = ModelCard(
        model=MODEL_FILE,
        files={MODEL_FILE: file_entry(data, multiply_adds, flip_tta)},
        quantization="dynamic-range int8 weights" if quantized else "none (float32)",
        input={"shape": [None, 48, 48], "dtype": "uint8", "crop": "pipeline.runtime.emotion.crop.face_crop"},
        output={"shape": [None, len(EMOTIONS)], "dtype": "float32", "meaning": "softmax probabilities"},
        flip_tta=flip_tta,
        parameters=parameters,
        unclear=unclear,
        # An export taken while its training run is still going (to keep the app usable between sessions)
        # is "interim"; the accuracy floor of the test suite applies to "final" models.
        status="final" if (training or {}).get("complete", True) else "interim",
        exported=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    text = render_model_card(card, metrics or {}, training or {})
    _atomic_write(out_dir / MODEL_CARD, text.encode("utf-8"))
    return out_dir


def _status_lines(card: ModelCard, training: dict) -> list[str]:
    if card.status == "final":
        return []
    return [
        f"**Status: interim.** Exported after epoch {training.get('epochs')} of {training.get('epochs_planned')} "
        "of a training run that is still going; it will be replaced by the final model. To continue the run:",
        "",
        "```",
        f"fertui train --resume --out {training.get('run_dir', 'models/checkpoints/emotion')}",
        "```",
        "",
    ]


def _metrics_tables(name: str, report: dict) -> list[str]:
    crops = report.get("jitter_crops", 1)
    averaged = f", {crops} alignment jitters averaged" if crops > 1 else ""
    lines = [
        f"### {name} ({report['labels']} labels, {report['n']} faces{averaged})",
        "",
        f"Accuracy **{report['accuracy']:.4f}**, macro F1 **{report['macro_f1']:.4f}** "
        f"(the paper: accuracy {PAPER_ACCURACY:.2f}). Neutral faces read as sad: {report['neutral_as_sad']:.1%}.",
    ]
    unclear = report.get("unclear")
    if unclear:
        lines.append(
            f"With the `unclear` rule (calibrated {unclear['metric']} < {unclear['threshold']:.3f}): "
            f"{unclear['n_unclear']} of {report['n']} faces ({unclear['unclear_fraction']:.1%}) become unclear, "
            f"accuracy on the rest **{unclear['accuracy_on_rest']:.4f}**."
        )
    lines += ["", "| class | precision | recall | F1 | paper F1 | support |", "| --- | --- | --- | --- | --- | --- |"]
    for emotion in EMOTIONS:
        c = report["per_class"][emotion]
        lines.append(
            f"| {emotion} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} | {PAPER_F1[emotion]:.2f} "
            f"| {c['support']} |"
        )
    lines += ["", "Confusion matrix (rows: true class, columns: predicted; order " + ", ".join(EMOTIONS) + "):", ""]
    lines += ["```", *(" ".join(f"{v:5d}" for v in row) for row in report["confusion"]), "```", ""]
    return lines


TAIL_HEADING = "## Calibration and unclear"
"""Where the part of the card that `fertui calibrate` rewrites begins (the rest of the card is the training's)."""


def render_model_card(card: ModelCard, metrics: dict, training: dict, calibration: dict | None = None) -> str:
    """MODEL_CARD.md: the human-readable account plus the one ```json block the loader reads."""
    return render_card_head(card, training) + render_card_tail(card, metrics, calibration)


def render_card_head(card: ModelCard, training: dict) -> str:
    """The card up to its calibration: what the model is, its files, data and training."""
    lines = [
        "# fertui emotion model",
        "",
        "Classifies a 48x48 grayscale face (made by `pipeline.runtime.emotion.crop.face_crop`) into the seven FER-2013",
        f"emotions ({', '.join(EMOTIONS)}). Trained by this project's own code; never downloaded.",
        "",
        *_status_lines(card, training),
        *_files_lines(card),
        "## Data",
        "",
        "FER-2013 (Goodfellow et al., 2013) as packed in `shared/data/fer2013/fer2013.npz`: trained on",
        "`train` (Training, 28,709 images), model selected on `val` (PublicTest, 3,589), reported on `test`",
        "(PrivateTest, 3,589).",
        "",
        *_extra_data_lines(training),
    ]
    if training:
        lines += ["## Training", "", *_training_lines(training)]
    return "\n".join(lines) + "\n"


def _extra_data_lines(training: dict) -> list[str]:
    """Where the training images beyond FER-2013 came from, and the weights a fine-tuning run started from."""
    config = training.get("config", {})
    lines = []
    if config.get("labels") == "ferplus-votes":
        weight = config.get("original_weight")
        mixed = f", mixed with {weight:g} of the original label." if weight else "."
        lines += [
            "Targets: the FER+ annotators' votes (Barsoum et al., 2016; ten per image, github.com/microsoft/FERPlus,",
            f"MIT licence) as a distribution{mixed}",
            "",
        ]
    if config.get("wild"):
        wild = training.get("wild", {})
        lines += [
            "In-the-wild faces: muxspace facial_expressions (news photos of public figures and film stills, many",
            "ethnicities; one labeller per photo; repository licence Apache-2.0), cut by the app's own detector and",
            f"`face_crop`: {wild.get('faces', '?')} faces of {wild.get('photos', '?')} photos labelled with one of the",
            f"seven emotions ({wild.get('no_face', '?')} without a face found, `contempt` left out), one-hot targets.",
            "",
        ]
    if config.get("init"):
        lines += [f"Fine-tuned from the weights in `{config['init']}` (see the training command below).", ""]
    lines += [
        "Never trained on: the real-world development set (JAFFE, CK+48), used only to choose between candidates.",
        "",
    ]
    return lines


def _files_lines(card: ModelCard) -> list[str]:
    lines = ["## Files", "", "| file | bytes | multiply-adds per face | sha256 |", "| --- | --- | --- | --- |"]
    for name in card.member_files:
        file_info = card.files[name]
        cost = file_info.get("multiply_adds_per_face")
        cost_text = f"{cost / 1e6:,.0f}M" if cost else "not recorded"
        lines.append(f"| `{name}` | {file_info['bytes']:,} | {cost_text} | `{file_info['sha256']}` |")
    lines += ["", "The app refuses to load a file whose sha256 differs from the json block at the end of this card."]
    if len(card.member_files) > 1:
        lines.append(
            f"An ensemble of {len(card.member_files)} networks: every crop goes through each file and the app "
            "averages their probabilities."
        )
    lines += [
        f"Runtime: TFLite ({card.quantization}), input (N, 48, 48) uint8, output (N, 7) softmax;",
        f"{card.parameters:,} parameters; horizontal-flip test-time augmentation in the graph: "
        f"{'yes' if card.flip_tta else 'no (the app mirrors every other crop of its alignment cycle instead)'}.",
        "",
    ]
    return lines


def _training_lines(training: dict) -> list[str]:
    """One training run's account: its command, figures and configuration."""
    lines = []
    if "command" in training:
        lines += ["```", training["command"], "```", ""]
    for key, label in (
        ("labels", "labels"),
        ("epochs", "epochs"),
        ("best_epoch", "epoch with the best plain val accuracy during training (best.keras)"),
        ("best_val_accuracy", "val accuracy at that epoch"),
        ("exported", "exported weights (of best.keras and the last epoch, the better on val as shipped)"),
        ("seconds", "training time (s)"),
        ("machine", "machine"),
        ("seed", "seed"),
        ("val_accuracy_by_format", "val accuracy of the exported file, float32 vs dynamic-range int8"),
        ("ensemble_val_accuracy", "val accuracy (one crop) of the folder's model before, this file alone, and both"),
    ):
        if key in training:
            value = training[key]
            if key == "seconds":
                value = f"{value:.0f} ({value / 3600:.1f} h)"
            lines.append(f"- {label}: {value}")
    if "config" in training:
        # A plain fence: the card's only ```json block is the machine-readable one below.
        config = json.dumps(training["config"], indent=2)
        lines += ["", "Run configuration (`config.json` of the run):", "", "```", config, "```"]
    lines.append("")
    return lines


def add_member_file(
    data: bytes, out_dir: Path | str, *, parameters: int, multiply_adds: int, quantized: bool, training: dict
) -> str:
    """Add a converted model to the model folder out_dir as one more ensemble member; returns its file name.

    multiply_adds: the network's, for one image, as for write_model_files.

    The card keeps the training account of the members it had (its markdown) and gains the new one's. Its
    calibration is left for `calibrate_model_dir` to redo: the ensemble's outputs differ from the old model's.
    """
    out_dir = Path(out_dir)
    card_path = out_dir / MODEL_CARD
    card = ModelCard.read(out_dir)
    quantization = "dynamic-range int8 weights" if quantized else "none (float32)"
    if quantization != card.quantization:
        raise ModelError(f"{out_dir} holds {card.quantization} models; this one is {quantization}")
    name = f"{Path(MODEL_FILE).stem}-{len(card.member_files) + 1}{Path(MODEL_FILE).suffix}"
    _atomic_write(out_dir / name, data)
    before = card_head(card_path.read_text(encoding="utf-8"))
    card.members = [*card.member_files, name]
    card.files[name] = file_entry(data, multiply_adds, card.flip_tta)
    card.parameters += parameters
    card.status = "final" if training.get("complete", True) else "interim"
    card.exported = datetime.now(UTC).isoformat(timespec="seconds")
    at = before.find("\n## Training\n")
    trained = before[at + 1 :] if at >= 0 else "## Training\n\n"
    if "\n### `" not in trained:
        trained = trained.replace("## Training\n", f"## Training\n\n### `{card.model}`\n", 1)
    head = render_card_head(card, {}) + trained.rstrip("\n") + f"\n\n### `{name}`\n\n"
    head += "\n".join(_training_lines(training)) + "\n"
    _atomic_write(card_path, (head + render_card_tail(card, {})).encode("utf-8"))
    return name


def _calibration_lines(card: ModelCard, calibration: dict | None) -> list[str]:
    unclear = card.unclear
    temperature = card.temperature_value
    lines = [TAIL_HEADING, ""]
    if calibration:
        lines += [
            "The app shows calibrated probabilities: the model's output for each of a face's alignment jitters,",
            f"averaged, then sharpened or flattened by one temperature, p -> softmax(log p / T) with **T = "
            f"{temperature:.3f}**, fitted on `val` through the photo path (`pipeline/modelling/detection_path.py`: "
            "the real detector, `face_crop`, the jitters; `fertui calibrate`).",
            "",
            "Expected calibration error (15 bins) on `test`, before and after:",
            "",
            "| path | faces | ECE before | ECE after | accuracy |",
            "| --- | --- | --- | --- | --- |",
        ]
        for row in calibration["ece"]:
            lines.append(
                f"| {row['path']} | {row['n']} | {row['before']:.4f} | {row['after']:.4f} | {row['accuracy']:.4f} |"
            )
        lines.append("")
    else:
        lines += [
            f"Temperature {temperature:.3f}: not calibrated through the detection path yet (`fertui calibrate`).",
            "",
        ]
    if card.class_bias:
        lines += _class_bias_lines(card.class_bias)
    lines.append(
        f"A face is labelled `unclear` when its calibrated {unclear['metric'].replace('_', ' ')} is below "
        f"{unclear['threshold']:.3f}."
    )
    if unclear.get("criterion"):
        lines.append(f"Chosen on `val` through the photo path: {unclear['criterion']}.")
    if calibration:
        on_test = calibration["unclear_on_test"]
        lines += [
            "",
            f"On `test` through the photo path: {on_test['unclear_fraction']:.1%} of the detected faces are "
            f"`unclear`; accuracy on the rest **{on_test['accuracy_on_rest']:.4f}** against "
            f"{on_test['accuracy']:.4f} on all detected faces.",
            "",
            "Risk-coverage on `val` through the photo path (calibrated; coverage = share of faces named):",
            "",
            "| coverage | top probability: threshold | accuracy | margin: threshold | accuracy |",
            "| --- | --- | --- | --- | --- |",
        ]
        by_coverage: dict[float, dict[str, dict]] = {}
        for row in calibration["risk_coverage_val"]:
            by_coverage.setdefault(row["coverage"], {})[row["metric"]] = row
        for coverage, rows in by_coverage.items():
            top, margin = rows["top_probability"], rows["margin"]
            lines.append(
                f"| {coverage:.0%} | {top['threshold']:.3f} | {top['accuracy_on_kept']:.4f} "
                f"| {margin['threshold']:.3f} | {margin['accuracy_on_kept']:.4f} |"
            )
    lines.append("")
    if calibration and calibration.get("realworld"):
        lines += _realworld_lines(calibration["realworld"])
    return lines


def _class_bias_lines(class_bias: dict) -> list[str]:
    """The log-prior shift the card applies before the temperature, and where it comes from."""
    values = ", ".join(f"{emotion} {value:+.3f}" for emotion, value in class_bias["values"].items())
    if "prior_strength" not in class_bias:
        return [f"Before the temperature, each class's log probability is shifted by: {values}.", ""]
    return [
        f"Before the temperature, each class's log probability is shifted by -{class_bias['prior_strength']} x "
        f"log(its share of `train` by the {class_bias['labels']} labels) (`fertui calibrate --prior-correction "
        f"{class_bias['prior_strength']}`): a class the training set shows rarely is called as often as the faces "
        f"warrant, not as often as FER-2013 shows it. Shifts: {values}.",
        "",
    ]


def _realworld_lines(report: dict) -> list[str]:
    """The development set's table (pipeline.modelling.realworld): never trained on, used to choose."""
    parts = {**report["parts"], "both, pooled": report["pooled"]}
    lines = [
        "## On real people: the development set",
        "",
        f"Posed, observer-checked photos no fertui model trains on (`fertui eval --data realworld-dev`; "
        f"{report['jitter_crops']} alignments per face, calibrated as the app shows them). JAFFE through the photo "
        "path, CK+48 (no neutral) through the crop path. Shown right: the label the app shows is the posed one "
        "(`unclear` counts as wrong). Confusion matrices: `confusion-realworld-<part>.png` beside this card.",
        "",
        "| part | faces | found | top class right | shown right | unclear | macro recall |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, part in parts.items():
        lines.append(
            f"| {name} | {part['n']} | {part['coverage']:.1%} | {part['accuracy']:.3f} | {part['shown_right']:.3f} "
            f"| {part['unclear_fraction']:.1%} | {part['macro_recall']:.3f} |"
        )
    lines += ["", "Recall by class:", "", "| part | " + " | ".join(EMOTIONS) + " |", "| --- |" + " --- |" * 7]
    for name, part in parts.items():
        cells = [f"{part['recall'][e]:.2f}" if e in part["recall"] else "" for e in EMOTIONS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def render_card_tail(card: ModelCard, metrics: dict, calibration: dict | None = None) -> str:
    """The card from its calibration on: temperature, unclear rule, metrics and the machine-readable block."""
    lines = _calibration_lines(card, calibration)
    if metrics:
        lines += [
            "## Metrics",
            "",
            "`fertui export` and `fertui calibrate` also draw the test split's confusion matrices beside this card "
            "(`confusion-test-<labels>.png`; not committed).",
            "",
        ]
        for name, report in metrics.items():
            lines += _metrics_tables(name, report)
    lines += [
        "## Machine-readable card",
        "",
        "Read by `pipeline.runtime.emotion.classifier.EmotionClassifier.load`; written by `fertui export` and "
        "`fertui calibrate`.",
        "",
        "```json",
        json.dumps(card.to_json(), indent=2),
        "```",
        "",
    ]
    return "\n".join(lines)


def card_head(text: str) -> str:
    """The part of an existing MODEL_CARD.md before its calibration (older cards: before `## Unclear`)."""
    for heading in (TAIL_HEADING, "## Unclear", "## Metrics", "## Machine-readable card"):
        at = text.find("\n" + heading + "\n")
        if at >= 0:
            return text[: at + 1]
    return text
