"""The wheel carries every model file the app checks at load time: an ensemble member left out of pyproject's
force-include list would pass in a checkout and fail for everyone who installs fertui as a tool."""

from __future__ import annotations

import tomllib

from pipeline.emotion import PROJECT_ROOT
from pipeline.emotion.classifier import read_model_card


def test_every_file_of_the_shipped_model_card_is_packaged_into_the_wheel():
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    packaged = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    card = read_model_card(PROJECT_ROOT / "models")
    for name in ["MODEL_CARD.md", *card.member_files]:
        source = f"models/{name}"
        assert (PROJECT_ROOT / source).is_file(), source
        assert packaged.get(source) == f"pipeline/models/{name}", f"{source} is not in the wheel's force-include"
    assert packaged.get("models/mtcnn") == "pipeline/models/mtcnn"
