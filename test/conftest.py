"""Shared test set-up.

ROS tests run on a domain id of their own so parallel runs on one machine (other
developers, CI) never see each other's topics, discovery stays on this host, and every
process uses the project's Fast DDS profile so camera-sized images arrive intact.
"""

import os
import random
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randint(100, 199)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(ROOT / "config" / "fastdds_shm.xml"))


@pytest.fixture(scope="session")
def sample_video():
    from mot_ros.data import sample_video_path

    return sample_video_path()


@pytest.fixture(scope="session")
def vtest_frames(sample_video):
    """A few real frames of the sample video, by index."""
    import cv2

    wanted = (0, 100, 200, 300, 400, 500, 600, 700)
    cap = cv2.VideoCapture(str(sample_video))
    frames = {}
    for index in wanted:
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = cap.read()
        assert ok, f"cannot read frame {index} of {sample_video}"
        frames[index] = frame
    cap.release()
    return frames
