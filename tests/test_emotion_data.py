"""FER+ labels on a tiny dataset the test writes: the majority vote, and the vote distribution as soft targets."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from pipeline.modelling.data import load_splits

VOTE_COLUMNS = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF"]

# Per test image: the ten FER+ votes in VOTE_COLUMNS order, and the original FER-2013 label.
VOTES = [
    ([6, 0, 0, 4, 0, 0, 0, 0, 0, 0], 4),  # mostly neutral, some sad; the original label says sad
    ([0, 9, 1, 0, 0, 0, 0, 0, 0, 0], 3),  # happy
    ([0, 0, 0, 0, 2, 0, 0, 6, 2, 0], 0),  # majority contempt: no FER+ majority, but anger votes to learn from
    ([0, 0, 0, 0, 0, 0, 0, 0, 0, 10], 2),  # not a face: left out of both
]


def write_fer_files(tmp_path, votes_and_labels):
    n = len(votes_and_labels)
    arrays = {}
    for split in ("train", "val", "test"):
        arrays[f"{split}_x"] = np.arange(n, dtype=np.uint8)[:, None, None] * np.ones((1, 48, 48), np.uint8)
        arrays[f"{split}_y"] = np.array([label for _, label in votes_and_labels], dtype=np.uint8)
    npz = tmp_path / "fer2013.npz"
    np.savez_compressed(npz, **arrays)
    with (tmp_path / "ferplus_labels.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["row", "split", "split_index", "fer2013_emotion", *VOTE_COLUMNS])
        row = 0
        for split in ("train", "val", "test"):
            for index, (votes, label) in enumerate(votes_and_labels):
                writer.writerow([row, split, index, label, *votes])
                row += 1
    return npz


@pytest.fixture
def fer_files(tmp_path):
    return write_fer_files(tmp_path, VOTES)


def test_the_majority_leaves_out_images_whose_top_vote_is_not_an_emotion(fer_files):
    test = load_splits(fer_files, "ferplus", ("test",))["test"]
    assert test.labels.tolist() == [6, 3]  # neutral, happy
    assert test.images[:, 0, 0].tolist() == [0, 1] and test.targets is None


def test_the_vote_distribution_drops_non_emotion_votes_and_renormalises(fer_files):
    train = load_splits(fer_files, "ferplus-votes", ("train",))["train"]
    assert train.images[:, 0, 0].tolist() == [0, 1, 2]  # the not-a-face image is left out
    expected = np.zeros((3, 7), np.float32)
    expected[0, [6, 4]] = [0.6, 0.4]  # neutral 6 of 10, sad 4 of 10
    expected[1, [3, 5]] = [0.9, 0.1]
    expected[2, 0] = 1.0  # the two anger votes are all that is left
    assert np.allclose(train.targets, expected)
    assert train.labels.tolist() == [6, 3, 0]
    mixed = load_splits(fer_files, "ferplus-votes", ("train",), original_weight=0.5)["train"]
    assert np.allclose(mixed.targets[0], 0.5 * expected[0] + 0.5 * np.eye(7)[4])  # the original label was sad
    assert np.allclose(mixed.targets.sum(axis=1), 1.0)
    assert mixed.subset(np.array([1])).targets.tolist() == [mixed.targets[1].tolist()]


def test_the_original_label_can_be_mixed_in_only_where_an_annotator_saw_it(tmp_path):
    fer = write_fer_files(
        tmp_path,
        [
            ([6, 0, 0, 4, 0, 0, 0, 0, 0, 0], 4),  # mostly neutral; sad, the original label, has 4 votes
            ([0, 0, 10, 0, 0, 0, 0, 0, 0, 0], 0),  # all surprise; the original label says angry, and no one saw it
        ],
    )
    votes = load_splits(fer, "ferplus-votes", ("train",))["train"].targets
    mixed = load_splits(fer, "ferplus-votes", ("train",), original_weight=0.5, original_where_voted=True)["train"]
    assert np.allclose(mixed.targets[0], 0.5 * votes[0] + 0.5 * np.eye(7)[4])
    assert np.allclose(mixed.targets[1], votes[1])  # left as the annotators voted
    everywhere = load_splits(fer, "ferplus-votes", ("train",), original_weight=0.5)["train"]
    assert np.allclose(everywhere.targets[1], 0.5 * votes[1] + 0.5 * np.eye(7)[0])
