"""Peak RSS of the production detector (FastMTCNN) over photos of many sizes against photos of one size.

    uv run python -m benchmarks.detector_memory [--photos 200] [--unbounded]

Every photo is a portrait pasted on a plain wall; the many sizes are 200 different (width, height) pairs from
480x320 to 1280x1000; the one size is their middle (by area), and, beside it, their largest. Each case runs in a
fresh process (peak RSS is a high-water mark), which builds the detector and detects on every photo in turn, as
`fertui analyze` does for a folder of photos (a full detection per photo). `--unbounded` keeps every P-Net
interpreter (the detector before it dropped an earlier size's), to show what that saves. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys


def sizes(count: int) -> list[tuple[int, int]]:
    """`count` different (width, height) pairs spread over 480..1280 wide, 320..1000 high."""
    out: list[tuple[int, int]] = []
    for i in range(count):
        width = 480 + (800 * i) // max(1, count - 1)
        height = 320 + (680 * ((i * 37) % count)) // max(1, count - 1)
        out.append((width, height))
    assert len(set(out)) == count
    return out


def run_case(photo_sizes: list[tuple[int, int]], unbounded: bool) -> dict[str, object]:
    import cv2
    import numpy as np

    from pipeline.runtime.detector.fast_mtcnn import FastMTCNN
    from tests.media import background, portrait

    detector = FastMTCNN(warmup_size=None)
    if unbounded:
        detector._pnet.retain = lambda shapes: None  # type: ignore[method-assign]  # the detector before the bound
    face = cv2.cvtColor(portrait("hopper"), cv2.COLOR_BGR2RGB)
    found = 0
    for width, height in photo_sizes:
        canvas = background((width, height)).copy()
        side = min(height, width) // 2
        scaled = cv2.resize(face, (side * face.shape[1] // face.shape[0], side), interpolation=cv2.INTER_AREA)
        canvas[: scaled.shape[0], : scaled.shape[1]] = scaled[:height, :width]
        found += len(detector.detect(np.ascontiguousarray(canvas)))
    detector.close()
    return {
        "photos": len(photo_sizes),
        "distinct_sizes": len(set(photo_sizes)),
        "faces_found": found,
        "pnet_interpreters_kept": len(detector._pnet.planned_shapes),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--unbounded", action="store_true", help="keep every P-Net interpreter (before the bound)")
    parser.add_argument("--case", choices=("many", "middle", "largest"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    many = sizes(args.photos)
    by_area = sorted(many, key=lambda s: s[0] * s[1])
    cases = {"middle": [by_area[len(many) // 2]] * args.photos, "largest": [by_area[-1]] * args.photos, "many": many}
    if args.case:
        print(json.dumps(run_case(cases[args.case], args.unbounded)))
        return
    results: dict[str, dict] = {}
    for case in cases:
        command = [sys.executable, "-m", "benchmarks.detector_memory", "--photos", str(args.photos), "--case", case]
        done = subprocess.run(command + (["--unbounded"] if args.unbounded else []), capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{case}: {done.stderr[-2000:]}")
        results[case] = json.loads(done.stdout.strip().splitlines()[-1])
        if case != "many":
            results[case]["size"] = "x".join(map(str, cases[case][0]))
    ratios = {
        f"many_over_{case}": round(results["many"]["peak_rss_mb"] / results[case]["peak_rss_mb"], 3)
        for case in ("middle", "largest")
    }
    print(json.dumps({"unbounded": args.unbounded, **results, "peak_rss_ratio": ratios}))


if __name__ == "__main__":
    main()
