"""Offline weights: provisioned from face-recognition-models, never downloaded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from quart.testing.app import LifespanError
from tortoise import Tortoise

from smsbank.app import create_app
from smsbank.core.settings import Settings
from smsbank.faces import weights
from smsbank.faces.service import FaceEngineError, FaceService
from smsbank.faces.weights import (
    MissingWeights,
    forbid_downloads,
    packaged_weights_dir,
    provision_weights,
)

FILES = ["dlib_face_recognition_resnet_model_v1.dat", "shape_predictor_5_face_landmarks.dat"]


def test_weights_are_linked_from_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEEPFACE_HOME", raising=False)
    home = provision_weights(tmp_path / "home")
    folder = Path(home) / ".deepface" / "weights"
    for name in FILES:
        target = folder / name
        assert target.is_file()
        assert target.resolve() == (packaged_weights_dir() / name).resolve()
    assert os.environ["DEEPFACE_HOME"] == home
    # Idempotent, and a second start-up keeps what is there.
    assert provision_weights(tmp_path / "home") == home


def test_an_operators_own_file_is_kept_and_a_dangling_link_replaced(tmp_path: Path) -> None:
    folder = tmp_path / ".deepface" / "weights"
    folder.mkdir(parents=True)
    own = folder / FILES[0]
    own.write_bytes(b"operator's copy")
    (folder / FILES[1]).symlink_to(tmp_path / "gone.dat")
    provision_weights(tmp_path, set_env=False)
    assert own.read_bytes() == b"operator's copy"
    assert (folder / FILES[1]).is_file()


def test_a_missing_weight_file_names_the_file_and_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-package"
    empty.mkdir()
    monkeypatch.setattr(weights, "packaged_weights_dir", lambda: empty)
    with pytest.raises(MissingWeights) as caught:
        provision_weights(tmp_path / "home", set_env=False)
    message = str(caught.value)
    assert "dlib_face_recognition_resnet_model_v1.dat" in message
    assert "face-recognition-models" in message


async def test_the_app_refuses_to_start_without_its_weights(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-package"
    empty.mkdir()
    monkeypatch.setattr(weights, "packaged_weights_dir", lambda: empty)
    with pytest.raises(FaceEngineError, match=r"dlib_face_recognition_resnet_model_v1\.dat"):
        await FaceService(settings.with_overrides(deepface_home=str(tmp_path / "h"))).start()
    # The app's start-up fails with that message (Quart wraps it in a LifespanError).
    app = create_app(settings.with_overrides(deepface_home=str(tmp_path / "h2")))
    try:
        with pytest.raises(LifespanError, match="face-recognition-models"):
            async with app.test_app():
                pass
    finally:
        # The database was connected before the face engine failed, and a failed
        # start-up runs no shut-down: close it so the next test can connect.
        await Tortoise.close_connections()


def test_deepface_never_downloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the downloader replaced, building a model whose file is absent fails with a
    clear message, and neither requests nor gdown is ever called."""
    import gdown
    import requests
    from deepface.commons import weight_utils

    def network(*args: object, **kwargs: object) -> None:
        raise AssertionError("DeepFace tried the network")

    monkeypatch.setattr(requests, "head", network)
    monkeypatch.setattr(gdown, "download", network)
    monkeypatch.setattr(
        weight_utils, "download_weights_if_necessary", weight_utils.download_weights_if_necessary
    )
    forbid_downloads(tmp_path)
    with pytest.raises(MissingWeights, match="face-recognition-models"):
        weight_utils.download_weights_if_necessary(
            file_name="shape_predictor_5_face_landmarks.dat", source_url="https://dlib.net/x.bz2"
        )
    with pytest.raises(MissingWeights, match="never downloads"):
        weight_utils.download_weights_if_necessary(
            file_name="arcface_weights.h5", source_url="https://example.invalid/arcface.h5"
        )
    provision_weights(tmp_path, set_env=False)
    assert weight_utils.download_weights_if_necessary(
        file_name="shape_predictor_5_face_landmarks.dat", source_url="unused"
    ).endswith("shape_predictor_5_face_landmarks.dat")
