"""Emotion model inference cost per face on one CPU core, per runtime; prints one JSON object.

    uv run python -m benchmarks.emotion_inference [--models models] [--keras RUN/best.keras] [--data fer2013.npz]

Runtimes: the shipped TFLite file(s) through the app's classifier (an ensemble: all members, averaged), the
first file alone through ai_edge_litert when installed, and with
--keras the same network as a Keras call, a tf.function and model.predict, plus TFLite conversions (float32 and
dynamic-range int8, each with and without horizontal-flip test-time augmentation; with --data their val accuracy).
The process pins itself to one core and TensorFlow to one thread.
Figures: ms per face (median and minimum over repeats; the minimum is the figure without interference).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import warnings
from pathlib import Path

import numpy as np

BATCHES = (1, 4, 8)


def _pin_to_one_core() -> int:
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return core


def _time_per_face(run, batch: np.ndarray, repeats: int) -> dict[str, float]:
    for _ in range(10):
        run(batch)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(batch)
        samples.append((time.perf_counter() - start) * 1e3)
    # The minimum is the cost without interference from other processes; the median what a busy machine sees.
    return {
        "median": round(statistics.median(samples) / len(batch), 4),
        "min": round(min(samples) / len(batch), 4),
    }


def _tflite_runner(interpreter_class, content: bytes):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interpreter = interpreter_class(model_content=content, num_threads=1)
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    state = {"n": int(inp["shape"][0])}

    def run(crops: np.ndarray) -> np.ndarray:
        if len(crops) != state["n"]:
            interpreter.resize_tensor_input(inp["index"], [len(crops), 48, 48], strict=False)
            interpreter.allocate_tensors()
            state["n"] = len(crops)
        interpreter.set_tensor(inp["index"], crops)
        interpreter.invoke()
        return interpreter.get_tensor(out["index"])

    return run


def _per_batch(run, crops: np.ndarray, repeats: int) -> dict[str, object]:
    return {f"batch_{b}_ms_per_face": _time_per_face(run, crops[:b], repeats) for b in BATCHES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, default=Path("models"), help="exported model folder")
    parser.add_argument("--keras", type=Path, default=None, help="a best.keras to compare Keras runtimes and flip-TTA")
    parser.add_argument("--data", type=Path, default=None, help="fer2013.npz: val accuracy of the TFLite variants")
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()

    core = _pin_to_one_core()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    crops = np.random.default_rng(0).integers(0, 256, (max(BATCHES), 48, 48), dtype=np.uint8)
    result: dict[str, object] = {"core": core, "runtimes": {}}
    runtimes = result["runtimes"]

    if (args.models / "MODEL_CARD.md").exists():
        from pipeline.runtime.emotion.classifier import EmotionClassifier

        classifier = EmotionClassifier.load(args.models)
        content = classifier.path.read_bytes()
        members = {name: (args.models / name).stat().st_size for name in classifier.files}
        result["model"] = {"files": members, "bytes": sum(members.values()), "sha256": classifier.files}
        # The shipped model as the app runs it: every member of an ensemble, averaged.
        runtimes["shipped_tflite"] = _per_batch(classifier.predict, crops, args.repeats)
        try:
            from ai_edge_litert.interpreter import Interpreter as LiteRT

            # The first member alone through LiteRT's own interpreter: the two runtimes side by side.
            runtimes["shipped_litert"] = _per_batch(_tflite_runner(LiteRT, content), crops, args.repeats)
        except ImportError:
            runtimes["shipped_litert"] = "ai_edge_litert not installed"

    if args.keras:
        import keras

        from pipeline.modelling.conversion import to_tflite

        model = keras.models.load_model(args.keras, safe_mode=True)
        result["parameters"] = int(model.count_params())
        floats = (crops.astype(np.float32) / 255.0)[..., None]
        to_floats = lambda batch: floats[: len(batch)]  # noqa: E731
        call = lambda batch: model(to_floats(batch), training=False)  # noqa: E731
        graph = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        runtimes["keras_call"] = _per_batch(call, crops, max(20, args.repeats // 10))
        runtimes["tf_function"] = _per_batch(lambda b: graph(tf.constant(to_floats(b))), crops, args.repeats)
        predict = lambda batch: model.predict(to_floats(batch), verbose=0)  # noqa: E731
        runtimes["keras_predict"] = _per_batch(predict, crops, 20)
        variants = {
            f"tflite_{kind}{'_flip_tta' if flip else ''}": to_tflite(model, flip_tta=flip, quantize=kind == "int8")
            for kind in ("float32", "int8")
            for flip in (False, True)
        }
        for name, content in variants.items():
            run = _tflite_runner(tf.lite.Interpreter, content)
            runtimes[name] = {**_per_batch(run, crops, args.repeats), "bytes": len(content)}
            if args.data:
                from pipeline.modelling.data import load_split

                val = load_split(args.data, "val")
                probs = np.concatenate([run(val.images[i : i + 256]) for i in range(0, len(val), 256)])
                runtimes[name]["val_accuracy"] = round(float((probs.argmax(axis=1) == val.labels).mean()), 4)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
