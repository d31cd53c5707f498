"""Convert the mtcnn package's P-Net, R-Net and O-Net to the TFLite files fertui loads, and write their card.

    uv run python -m pipeline.modelling.mtcnn_conversion [--out models/mtcnn]

Run once per mtcnn version (pinned in pyproject.toml); the files are committed. The networks are the
package's weights rearranged into plain TensorFlow functions (mtcnn_nets.py), converted without quantization,
so they compute what the package computes to float rounding (tests/test_mtcnn_nets.py).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
from pathlib import Path
from typing import Any

from pipeline.core.files import sha256_of
from pipeline.core.paths import installed_models_dir
from pipeline.runtime.detector.mtcnn_models import (
    CARD,
    CONVERSION_COMMAND,
    FOLDER,
    NETWORKS,
    network_file,
    package_weights,
)

INPUT_SHAPES: dict[str, list[int | None]] = {
    "pnet": [1, None, None, 3],  # one pyramid level of any size
    "rnet": [None, 24, 24, 3],  # a batch of 24 x 24 crops
    "onet": [None, 48, 48, 3],  # a batch of 48 x 48 crops
}


def convert(name: str) -> bytes:
    """The TFLite flatbuffer of one network (TensorFlow is imported here, and only here)."""
    import tensorflow as tf

    from pipeline.modelling.mtcnn_nets import onet_function, pnet_function, rnet_function

    function = {"pnet": pnet_function, "rnet": rnet_function, "onet": onet_function}[name]()
    spec = tf.TensorSpec(INPUT_SHAPES[name], tf.float32)
    concrete = tf.function(function, input_signature=[spec]).get_concrete_function()
    return tf.lite.TFLiteConverter.from_concrete_functions([concrete]).convert()


def write_networks(out: Path) -> dict:
    """Write the three .tflite files and MTCNN_CARD.md into `out`; returns the card's json block."""
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for name in NETWORKS:
        data = convert(name)
        (out / network_file(name)).write_bytes(data)
        files[network_file(name)] = {"sha256": sha256_of(data), "bytes": len(data), "input": INPUT_SHAPES[name]}
    card: dict[str, Any] = {
        "source": {"package": "mtcnn", "version": importlib.metadata.version("mtcnn"), "weights": package_weights()},
        "converter": {"tensorflow": importlib.metadata.version("tensorflow"), "quantization": "none (float32)"},
        "input": "float32 RGB pixel values 0..255 (the package's (x - 127.5) / 128 is folded into conv1)",
        "outputs": {
            "pnet": "(1, h, w, 5): 4 box offsets, face probability",
            "rnet": "(N, 5): 4 box offsets, face probability",
            "onet": "(N, 15): 4 box offsets, 10 keypoint coordinates (5 x, then 5 y), face probability",
        },
        "files": files,
    }
    rows = "\n".join(f"| `{file}` | {info['bytes']:,} | `{info['sha256']}` |" for file, info in files.items())
    (out / CARD).write_text(
        f"""# MTCNN networks

P-Net, R-Net and O-Net of the `mtcnn` package {card["source"]["version"]} (Zhang et al., 2016), with the
package's own weights, converted to TFLite for fertui's FastMTCNN (pipeline/runtime/detector/fast_mtcnn.py). Not
trained here: the weights are the package's, rearranged (output heads merged, normalization folded into the
first convolution; see pipeline/modelling/mtcnn_nets.py) and converted without quantization.

| file | bytes | sha256 |
| --- | --- | --- |
{rows}

Made by `{CONVERSION_COMMAND}`; fertui refuses a file whose sha256 differs from the json block below.

```json
{json.dumps(card, indent=2)}
```
""",
        encoding="utf-8",
    )
    return card


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=installed_models_dir() / FOLDER, help="folder to write (default: models/mtcnn)"
    )
    args = parser.parse_args()
    card = write_networks(args.out)
    for file, info in card["files"].items():
        print(f"{args.out / file}: {info['bytes']:,} bytes, sha256 {info['sha256'][:16]}...")


if __name__ == "__main__":
    main()
