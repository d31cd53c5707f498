"""EmotionProcessor: one batch per frame, smoothing per face id in time, photos on their own, the unclear label."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.core.frames import Face, Frame, FrameResult
from pipeline.core.labels import EMOTIONS, UNCLEAR
from pipeline.core.paths import installed_models_dir
from pipeline.processors.emotion import EmotionProcessor
from pipeline.runtime.emotion.classifier import EmotionClassifier, read_model_card
from pipeline.runtime.emotion.crop import face_crop, jitter_schedule
from tests.test_emotion_crop import HOPPER_BOX, HOPPER_KEYPOINTS


class CountingClassifier(EmotionClassifier):
    """The real tiny classifier, recording the batch sizes it was called with."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.batches: list[int] = []

    def predict(self, crops):
        self.batches.append(len(crops))
        return super().predict(crops)


@pytest.fixture
def classifier(tiny_models_dir):
    return CountingClassifier.load(tiny_models_dir)


def _result(image, faces, index=0, time_s=0.0):
    return FrameResult(frame=Frame(index, time_s, 1.7e9 + time_s, image), faces=tuple(faces))


def _faces(face_ids):
    # The same face at slightly different places, so the crops (and the probabilities) differ.
    return [
        Face(box=HOPPER_BOX, score=0.99, keypoints=HOPPER_KEYPOINTS + 6 * i, face_id=fid)
        for i, fid in enumerate(face_ids)
    ]


def test_all_faces_of_a_frame_go_in_one_batch(classifier, grace_hopper_bgr):
    processor = EmotionProcessor(classifier, smoothing_s=0.0, jitter_crops=1)
    faces = _faces([1, 2, 3])
    out = processor.process(_result(grace_hopper_bgr, faces))
    assert classifier.batches == [3]
    assert len(out.faces) == 3
    expected = EmotionClassifier.predict(classifier, np.stack([face_crop(grace_hopper_bgr, f) for f in faces]))
    for face, probs in zip(out.faces, expected, strict=True):
        assert np.allclose(face.probs, probs, atol=1e-6)
        assert face.smoothed is None  # smoothing off
        assert face.label in (*EMOTIONS, UNCLEAR)
        assert face.confidence == pytest.approx(float(probs.max()))
    assert processor.process(_result(grace_hopper_bgr, [])).faces == ()
    assert classifier.batches == [3]  # an empty frame costs no inference


def test_each_face_is_the_average_of_its_jittered_crops_in_the_same_batch(classifier, grace_hopper_bgr):
    processor = EmotionProcessor(classifier, smoothing_s=0.0, jitter_crops=9)
    faces = _faces([1, 2])
    out = processor.process(_result(grace_hopper_bgr, faces, index=3))
    assert classifier.batches == [18]  # 2 faces x 9 alignments, one call
    jitters = jitter_schedule(3, 9)
    for face, made in zip(faces, out.faces, strict=True):
        crops = np.stack([face_crop(grace_hopper_bgr, face, jitter) for jitter in jitters])
        expected = EmotionClassifier.predict(classifier, crops).mean(axis=0)
        assert np.allclose(made.probs, expected, atol=1e-6)
    assert processor.describe()["jitter_crops"] == 9


def test_smoothing_follows_each_face_id_in_time(classifier, grace_hopper_bgr):
    processor = EmotionProcessor(classifier, smoothing_s=0.2, unclear_threshold=0.0)
    first = processor.process(_result(grace_hopper_bgr, _faces([7, None]), 0, 0.0))
    # Frame 2, 0.1 s later: face 7 appears where the other face was, so its raw probabilities change.
    second = processor.process(_result(grace_hopper_bgr, _faces([None, 7]), 1, 0.1))
    a, b = first.faces[0], second.faces[1]
    assert np.allclose(a.smoothed, a.probs)  # first sight: nothing to average with
    assert not np.allclose(a.probs, b.probs)
    past = np.exp(-0.1 / 0.2)
    assert np.allclose(b.smoothed, past * a.smoothed + (1 - past) * b.probs, atol=1e-6)
    assert b.label == EMOTIONS[int(np.argmax(b.smoothed))]
    assert b.confidence == pytest.approx(float(b.smoothed.max()))
    for face in (first.faces[1], second.faces[0]):  # no id: not smoothed
        assert np.allclose(face.smoothed, face.probs)


def _step_progress(classifier, image, fps: float, seconds: float, change_at_s: float) -> dict[float, float]:
    """One face id seen at `fps` for `seconds`; its picture changes (another framing) at `change_at_s`.
    Returns time -> how far the smoothed distribution has moved from the old picture's to the new one's (0..1)."""
    processor = EmotionProcessor(classifier, smoothing_s=0.25, jitter_crops=1)
    before, after = _faces([1, 1])
    old, new = (classifier.face_probabilities(face_crop(image, face)[None, None])[0] for face in (before, after))
    progress = {}
    for index in range(round(seconds * fps)):
        now = index / fps
        face = before if now < change_at_s - 1e-9 else after
        smoothed = processor.process(_result(image, [face], index, now)).faces[0].smoothed
        progress[round(now, 4)] = float(np.dot(smoothed - old, new - old) / np.dot(new - old, new - old))
    return progress


def test_a_10_fps_and_a_30_fps_source_smooth_over_the_same_time(classifier, grace_hopper_bgr):
    slow = _step_progress(classifier, grace_hopper_bgr, fps=10, seconds=1.6, change_at_s=0.5)
    fast = _step_progress(classifier, grace_hopper_bgr, fps=30, seconds=1.7, change_at_s=0.5)
    assert slow[0.4] == pytest.approx(0.0, abs=1e-3) and fast[0.4667] == pytest.approx(0.0, abs=1e-3)
    # Within one frame of lag: at every time of the 10 fps source, the 30 fps one has moved as far, or as far
    # as it will be one 10 fps frame later (each frame stands for the time since the previous one).
    for now in (0.5, 0.6, 0.8, 1.0, 1.5):
        assert fast[now] - 1e-3 <= slow[now] <= fast[round(now + 0.1, 4)] + 1e-3, now
    # Time, not frames: 0.5 s after the change both have moved 1 - exp(-0.5 / 0.25) of the way, give or take a frame.
    assert fast[1.0] == pytest.approx(1 - np.exp(-(0.5 + 1 / 30) / 0.25), abs=2e-3)
    assert slow[1.0] == pytest.approx(1 - np.exp(-(0.5 + 1 / 10) / 0.25), abs=2e-3)


def test_an_id_unseen_for_more_than_the_reset_gap_starts_afresh(classifier, grace_hopper_bgr):
    processor = EmotionProcessor(classifier, smoothing_s=10.0, reset_after_s=1.0)
    processor.process(_result(grace_hopper_bgr, _faces([None, 4]), 0, 0.0))
    soon = processor.process(_result(grace_hopper_bgr, _faces([4]), 1, 0.9)).faces[0]
    assert not np.allclose(soon.smoothed, soon.probs)  # within the gap: averaged with the other framing
    later = processor.process(_result(grace_hopper_bgr, _faces([4]), 2, 2.0)).faces[0]
    assert np.allclose(later.smoothed, later.probs)  # a gap in the video: nothing carried over
    assert processor.describe()["smoothing_s"] == 10.0


def test_a_photo_is_classified_on_its_own_whatever_came_before(classifier, grace_hopper_bgr):
    faces = _faces([1, 2])
    alone = EmotionProcessor(classifier, jitter_crops=5, per_image=True).process(_result(grace_hopper_bgr, faces))
    processor = EmotionProcessor(classifier, jitter_crops=5, per_image=True)
    processor.process(_result(grace_hopper_bgr, _faces([1, 2, 3])[::-1], index=0, time_s=0.0))
    after = processor.process(_result(grace_hopper_bgr, faces, index=7, time_s=1.0))
    jitters = jitter_schedule(0, 5)  # the same alignments for every image
    for face, first, second in zip(faces, alone.faces, after.faces, strict=True):
        crops = np.stack([face_crop(grace_hopper_bgr, face, jitter) for jitter in jitters])
        expected = EmotionClassifier.predict(classifier, crops).mean(axis=0)
        assert np.allclose(first.probs, expected, atol=1e-6)
        assert np.array_equal(first.probs, second.probs)
        assert np.array_equal(second.smoothed, second.probs)  # a photo's smoothed columns are its own
        assert first.label == second.label
    assert processor.describe()["per_image"] is True


def test_below_the_threshold_the_label_is_unclear(classifier, grace_hopper_bgr):
    faces = _faces([1, 2])
    always = EmotionProcessor(classifier, smoothing_s=0.0, unclear_threshold=1.01).process(
        _result(grace_hopper_bgr, faces)
    )
    assert [f.label for f in always.faces] == [UNCLEAR, UNCLEAR]
    never = EmotionProcessor(classifier, smoothing_s=0.0, unclear_threshold=0.0).process(
        _result(grace_hopper_bgr, faces)
    )
    assert all(f.label in EMOTIONS for f in never.faces)
    card_default = EmotionProcessor(classifier)
    assert card_default.unclear_threshold == pytest.approx(0.05)
    assert card_default.describe()["model"]["sha256"] == classifier.sha256


def test_the_jitter_ensemble_steadies_the_shipped_model_under_keypoint_noise(grace_hopper_bgr):
    # MTCNN's keypoints move by about half a pixel between fits of the same face; on this portrait the shipped
    # model's top probability follows that noise. Averaged over the jittered crops it moves much less.
    shipped = EmotionClassifier.load(installed_models_dir())
    rng = np.random.default_rng(3)
    single, ensemble = [], []
    for _ in range(16):
        keypoints = HOPPER_KEYPOINTS + rng.normal(0.0, 0.5, size=HOPPER_KEYPOINTS.shape)
        processor = EmotionProcessor(shipped, smoothing_s=0.0, jitter_crops=9)
        face = Face(box=HOPPER_BOX, score=0.99, keypoints=keypoints.astype(np.float32), face_id=1)
        single.append(shipped.predict(face_crop(grace_hopper_bgr, face)[None])[0])
        ensemble.append(processor.process(_result(grace_hopper_bgr, [face], index=0)).faces[0].probs)
    single_spread = np.std(np.stack(single), axis=0).mean()
    ensemble_spread = np.std(np.stack(ensemble), axis=0).mean()
    assert single_spread > 0.005, "the noise moves the single-crop prediction"
    assert ensemble_spread < 0.7 * single_spread, (single_spread, ensemble_spread)


def test_a_video_frame_shares_its_crop_budget_among_the_models_members(tiny_models_dir, tmp_path):
    import shutil

    from pipeline.engine import VIDEO_MAX_CROPS, EngineConfig, build_processors, video_jitter_crops
    from pipeline.modelling.conversion import add_member_file

    ensemble_dir = shutil.copytree(tiny_models_dir, tmp_path / "ensemble")
    member = (tiny_models_dir / "emotion.tflite").read_bytes()
    # The second file is recorded as costing 350M multiply-adds a crop: the budget (800M) holds two crops of both.
    add_member_file(member, ensemble_dir, parameters=1, multiply_adds=350_000_000, quantized=True, training={})
    single, ensemble = EmotionClassifier.load(tiny_models_dir), EmotionClassifier.load(ensemble_dir)
    assert video_jitter_crops(EngineConfig(), single) == VIDEO_MAX_CROPS, "the tiny network alone is cheap"
    assert video_jitter_crops(EngineConfig(), ensemble) == 2
    assert video_jitter_crops(EngineConfig(jitter_crops=5), ensemble) == 5

    video = build_processors(EngineConfig(models_dir=ensemble_dir, landmarks=False))[-1]
    photos = build_processors(EngineConfig(models_dir=ensemble_dir, landmarks=False, stills=True))[-1]
    assert video.describe()["jitter_crops"] == 2
    assert photos.describe()["jitter_crops"] == EngineConfig().still_jitter_crops


def test_a_costlier_network_gets_fewer_crops_per_video_frame(tiny_models_dir, tmp_path):
    import shutil

    from pipeline.engine import (
        DEFAULT_NETWORK_MULTIPLY_ADDS,
        VIDEO_MAX_CROPS,
        VIDEO_MULTIPLY_ADDS_PER_FACE,
        EngineConfig,
        video_jitter_crops,
    )

    card = read_model_card(tiny_models_dir)
    files = [(tiny_models_dir / card.model, card.sha256)]
    files.append((shutil.copy(files[0][0], tmp_path / "emotion-2.tflite"), card.sha256))

    def crops(multiply_adds_per_face, members=1):
        classifier = EmotionClassifier(files[:members], multiply_adds_per_face=multiply_adds_per_face)
        return video_jitter_crops(EngineConfig(), classifier)

    wide = 264_648_448  # --widths 48,96,192,384, one crop: the shipped network
    assert VIDEO_MULTIPLY_ADDS_PER_FACE // wide == crops(wide) == 3
    assert crops(2 * wide) == 1, "the same network with the mirror image in its file: twice the cost per crop"
    assert crops(2 * wide, members=2) == 1, "an ensemble of two wide networks: each crop goes through both"
    assert crops(wide + DEFAULT_NETWORK_MULTIPLY_ADDS // 2, members=2) == 2, "a wide and a default network"
    assert crops(None) == 3, "a card without costs: the default network with its mirror image, 236M a crop"
    assert crops(None, members=2) == 1
    assert crops(1_000_000) == VIDEO_MAX_CROPS == 6, "a cheap network gets no more than the cap"
    assert crops(20 * VIDEO_MULTIPLY_ADDS_PER_FACE) == 1, "at least one crop, whatever the cost"
    asked = EngineConfig(jitter_crops=5)
    assert video_jitter_crops(asked, EmotionClassifier(files[:1], multiply_adds_per_face=wide)) == 5


def test_multiply_adds_count_each_convolution_at_its_output_size_and_the_shipped_card_records_them():
    import keras

    from pipeline.engine import DEFAULT_NETWORK_MULTIPLY_ADDS
    from pipeline.modelling.network import build_model, multiply_adds

    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)  # 8*8 outputs * 3*3*1 inputs * 4 channels
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(2, 3, padding="valid")(x)  # 2*2 outputs * 3*3*4 * 2
    x = keras.layers.Dense(5)(keras.layers.Flatten()(x))  # 8 * 5
    assert multiply_adds(keras.Model(inputs, x)) == 8 * 8 * 9 * 4 + 2 * 2 * 9 * 4 * 2 + 8 * 5

    assert 2 * multiply_adds(build_model()) == DEFAULT_NETWORK_MULTIPLY_ADDS, "the default network and its mirror"
    wide = build_model(widths=(48, 96, 192, 384))
    shipped = read_model_card(installed_models_dir())
    assert shipped.parameters == wide.count_params(), "the shipped file is the wide network"
    assert not shipped.flip_tta, "the mirror image is one of the alignments, not a second pass inside the file"
    assert shipped.files[shipped.model]["multiply_adds_per_face"] == multiply_adds(wide) == 264_648_448
