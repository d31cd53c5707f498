"""`fertui train`: train the emotion classifier on FER-2013 (needs the `train` extra)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.commands import UsageError, require_train_extra


def add_parser(sub: argparse._SubParsersAction) -> None:
    from pipeline.core.paths import default_data
    from pipeline.modelling import DEFAULT_WIDTHS
    from pipeline.modelling.train import TrainConfig

    p = sub.add_parser("train", help="train the emotion classifier on FER-2013")
    p.add_argument("--data", type=Path, default=default_data(), help="fer2013.npz (default: %(default)s)")
    p.add_argument(
        "--labels",
        choices=("fer2013", "ferplus", "ferplus-votes"),
        default="fer2013",
        help="fer2013: original labels (default); ferplus: FER+ majority; ferplus-votes: the FER+ vote distribution",
    )
    p.add_argument(
        "--original-weight",
        type=float,
        default=0.0,
        metavar="W",
        help="with ferplus-votes: mix W of the original label into each target (default: 0)",
    )
    p.add_argument(
        "--original-where-voted",
        action="store_true",
        help="with --original-weight: mix the original label in only where a FER+ annotator voted for its class",
    )
    p.add_argument("--label-smoothing", type=float, default=0.1, help="(default: %(default)s)")
    p.add_argument(
        "--class-weight-power",
        type=float,
        default=0.5,
        metavar="P",
        help="weigh each class's loss by its inverse frequency to the power P; 0: all alike (default: %(default)s)",
    )
    p.add_argument(
        "--widths",
        default=",".join(map(str, DEFAULT_WIDTHS)),
        metavar="W1,W2,W3,W4",
        help="channels of the network's four conv stages (default: %(default)s)",
    )
    p.add_argument("--webcam-augment", action="store_true", help="also train on webcam-like blur, gamma and noise")
    p.add_argument(
        "--domain-augment",
        action="store_true",
        help="wider scale and shift, lower resolution, JPEG loss, gamma and occluders (the gap between datasets)",
    )
    p.add_argument(
        "--lower-face-occlusion",
        type=float,
        default=0.0,
        metavar="P",
        help="hide everything below the nose in a share P of the training faces (default: 0, off)",
    )
    p.add_argument(
        "--wild",
        type=Path,
        default=None,
        metavar="DIR",
        help="add the in-the-wild faces of muxspace's folder (labels.csv), cut by the app's detector and crop",
    )
    p.add_argument(
        "--wild-per-class",
        type=int,
        default=None,
        metavar="N",
        help="with --wild: keep at most N of its faces per class, drawn by --seed (default: all)",
    )
    p.add_argument(
        "--init",
        type=Path,
        default=None,
        metavar="MODEL.keras",
        help="start from this run's weights (fine-tuning: same --widths) instead of random ones",
    )
    p.add_argument("--learning-rate", type=float, default=TrainConfig.learning_rate, help="peak (default: %(default)s)")
    p.add_argument(
        "--warmup-epochs", type=int, default=TrainConfig.warmup_epochs, help="linear warm-up (default: %(default)s)"
    )
    p.add_argument(
        "--mixup",
        type=float,
        default=0.0,
        metavar="ALPHA",
        help="blend pairs of training images and their targets, share ~ Beta(ALPHA, ALPHA) (default: 0, off)",
    )
    p.add_argument(
        "--teacher",
        type=Path,
        default=None,
        metavar="MODELS",
        help="distil: mix this model folder's probabilities (an exported model or ensemble) into the targets",
    )
    p.add_argument(
        "--teacher-weight",
        type=float,
        default=0.5,
        metavar="W",
        help="with --teacher: the teacher's share of each target (default: %(default)s)",
    )
    p.add_argument("--epochs", type=int, default=80)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--limit", type=int, default=None, help="train on the first N images only (smoke runs)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--out", type=Path, default=Path("runs/emotion"), help="run folder (default: %(default)s)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    require_train_extra("fertui train")
    from pipeline.modelling.train import TrainConfig, train

    if not 0.0 <= args.original_weight <= 1.0:
        raise UsageError("--original-weight must be in [0, 1]")
    if not 0.0 <= args.class_weight_power <= 1.0:
        raise UsageError("--class-weight-power must be in [0, 1]")
    widths = _widths(args.widths)
    if args.mixup < 0:
        raise UsageError("--mixup must be 0 (off) or positive")
    if not 0.0 <= args.teacher_weight <= 1.0:
        raise UsageError("--teacher-weight must be in [0, 1]")
    if not 0.0 < args.learning_rate <= 1.0:
        raise UsageError("--learning-rate must be in (0, 1]")
    if args.warmup_epochs < 0:
        raise UsageError("--warmup-epochs must not be negative")
    if not 0.0 <= args.lower_face_occlusion <= 1.0:
        raise UsageError("--lower-face-occlusion must be in [0, 1]")
    if args.original_where_voted and not args.original_weight:
        raise UsageError("--original-where-voted needs --original-weight")
    if args.wild_per_class is not None and (args.wild is None or args.wild_per_class < 1):
        raise UsageError("--wild-per-class needs --wild and a positive count")
    for option, path in (("--wild", args.wild), ("--init", args.init)):
        if path is not None and not path.exists():
            raise UsageError(f"{option}: {path} does not exist")
    config = TrainConfig(
        data=str(args.data),
        labels=args.labels,
        original_weight=args.original_weight,
        original_where_voted=args.original_where_voted,
        label_smoothing=args.label_smoothing,
        class_weight_power=args.class_weight_power,
        widths=widths,
        webcam_augment=args.webcam_augment,
        domain_augment=args.domain_augment,
        lower_face_occlusion=args.lower_face_occlusion,
        wild=None if args.wild is None else str(args.wild),
        wild_per_class=args.wild_per_class,
        init=None if args.init is None else str(args.init),
        learning_rate=args.learning_rate,
        warmup_epochs=args.warmup_epochs,
        mixup_alpha=args.mixup,
        teacher=None if args.teacher is None else str(args.teacher),
        teacher_weight=args.teacher_weight,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        limit=args.limit,
    )
    state = train(config, args.out, resume=args.resume)
    print(f"best val accuracy {state['best_val_accuracy']:.4f} at epoch {state['best_epoch']}; run in {args.out}")
    return 0


def _widths(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(part) for part in text.split(","))
    except ValueError:
        widths = ()
    if len(widths) != 4 or min(widths) < 1:
        raise UsageError(f"--widths must be four positive channel counts like 32,64,128,256, not {text!r}")
    return widths
