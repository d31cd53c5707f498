"""Development tool: bring MediaPipe's face mesh model into models/face_mesh/, with its card and licence.

    uv run python scripts/face_mesh_models.py fetch       # the .tflite from the mediapipe wheel, card, LICENSE
    uv run python scripts/face_mesh_models.py reference   # models/face_mesh/reference_shape.json (head pose)

`fetch` downloads the mediapipe wheel with pip (`--no-deps`: mediapipe pins numpy<2 and pulls jax, so it is
never a dependency of fertui) into a temporary folder, takes `face_landmark.tflite` and the wheel's Apache-2.0
LICENSE out of it, and writes FACE_MESH_CARD.md with the file's sha256, the wheel's name and sha256, the
version and the licence. The runtime never imports mediapipe: it runs the file through LiteRT
(pipeline/processors/face_mesh.py).

`reference` builds the mean face shape that head pose is fitted to (pipeline/processors/head_pose.py) from this
project's own mesh on the public-domain portraits (see build_reference in head_pose.py).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MEDIAPIPE_VERSION = "0.10.21"
MODEL_IN_WHEEL = "mediapipe/modules/face_landmark/face_landmark.tflite"
LICENSE_IN_WHEEL = f"mediapipe-{MEDIAPIPE_VERSION}.dist-info/LICENSE"
OUT = ROOT / "models" / "face_mesh"

NOTICE = f"""face_landmark.tflite in this folder is MediaPipe's face mesh model, unchanged, taken from the
mediapipe {MEDIAPIPE_VERSION} wheel on the Python package index (path {MODEL_IN_WHEEL}).
Copyright The MediaPipe Authors. Licensed under the Apache License, Version 2.0 (the file LICENSE beside
this one, as the wheel ships it). fertui runs the file as is; it does not modify it.
"""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download_wheel(folder: Path) -> Path:
    """pip's own client, through uv (`uvx pip`) because the project's environment has no pip in it."""
    pip = ["uvx", "pip"] if shutil.which("uvx") else [sys.executable, "-m", "pip"]
    subprocess.run([*pip, "download", f"mediapipe=={MEDIAPIPE_VERSION}", "--no-deps", "-d", str(folder)], check=True)
    (wheel,) = folder.glob("mediapipe-*.whl")
    return wheel


def card_text(card: dict) -> str:
    entry = card["files"]["face_landmark.tflite"]
    return f"""# Face mesh landmarks (MediaPipe)

MediaPipe's face mesh network (Kartynnik et al., 2019, "Real-time Facial Surface Geometry from Monocular Video
on Mobile GPUs"): 468 3D points on a 192x192 RGB crop of a face. Not trained here: the file is MediaPipe's,
unchanged, taken from the `mediapipe` {card["source"]["version"]} wheel by `scripts/face_mesh_models.py fetch`.
Licence: Apache-2.0 (LICENSE and NOTICE beside this card).

| file | bytes | sha256 |
| --- | --- | --- |
| `face_landmark.tflite` | {entry["bytes"]:,} | `{entry["sha256"]}` |

Input framing as MediaPipe's face landmark graph makes it (face_landmark_front_cpu): a square around the face,
1.5 times the face box's longer side, rotated so that the eyes are level, resized to 192x192; RGB float32 in
[0, 1]. Outputs: (1404,) = 468 x (x, y, z) in the crop's pixels (z: depth on the same scale, smaller is nearer
the camera), and a face-presence logit (sigmoid >= 0.5: a face; below, the tracked crop lost it).

`mesh_68.json` maps mesh vertices to the 68 iBUG 300-W points; `reference_shape.json` is the mean face shape
head pose is fitted to (built by `scripts/face_mesh_models.py reference`). fertui refuses a model file whose
sha256 differs from the json block below.

```json
{json.dumps(card, indent=2)}
```
"""


def fetch(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = download_wheel(Path(tmp))
        wheel_bytes = wheel.read_bytes()
        with zipfile.ZipFile(wheel) as archive:
            model = archive.read(MODEL_IN_WHEEL)
            licence = archive.read(LICENSE_IN_WHEEL)
    (out / "face_landmark.tflite").write_bytes(model)
    (out / "LICENSE").write_bytes(licence)
    (out / "NOTICE").write_text(NOTICE, encoding="utf-8")
    card = {
        "source": {
            "package": "mediapipe",
            "version": MEDIAPIPE_VERSION,
            "wheel": wheel.name,
            "wheel_sha256": sha256(wheel_bytes),
            "path_in_wheel": MODEL_IN_WHEEL,
        },
        "licence": "Apache-2.0",
        "input": {"shape": [1, 192, 192, 3], "dtype": "float32", "range": [0.0, 1.0], "channels": "RGB"},
        "crop_scale": 1.5,
        "files": {"face_landmark.tflite": {"sha256": sha256(model), "bytes": len(model)}},
    }
    (out / "FACE_MESH_CARD.md").write_text(card_text(card), encoding="utf-8")
    print(f"wrote {out / 'face_landmark.tflite'} ({len(model):,} bytes, sha256 {sha256(model)})")


def reference(out: Path) -> None:
    from pipeline.processors.head_pose import build_reference, write_reference

    shape = build_reference(out)
    path = write_reference(shape, out)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("fetch", "reference"))
    parser.add_argument("--out", type=Path, default=OUT, help=f"the models folder (default {OUT})")
    args = parser.parse_args()
    fetch(args.out) if args.step == "fetch" else reference(args.out)


if __name__ == "__main__":
    main()
