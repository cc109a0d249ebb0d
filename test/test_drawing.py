"""Annotated frames: boxes where the tracks are, stable colors, clear config errors."""

import numpy as np
import pytest

from mot_ros.drawing import DrawingConfig, draw_tracks, label_text, track_color
from mot_ros.types import TrackedObject


def test_boxes_are_drawn_on_a_copy_at_the_track_position():
    image = np.zeros((120, 160, 3), np.uint8)
    track = TrackedObject(3, (40.0, 50.0, 100.0, 110.0), 0.87, "person")
    out = draw_tracks(image, [track], DrawingConfig(line_thickness=1), rate_hz=12.5)
    assert image.max() == 0, "the input frame must not be modified"
    color = np.array(track_color(3))
    np.testing.assert_array_equal(out[80, 40], color)  # left edge
    np.testing.assert_array_equal(out[110, 70], color)  # bottom edge
    assert out[80, 70].max() == 0, "the inside of the box stays untouched"
    assert out[5:30, 5:80].max() > 0, "the rate is drawn in the top-left corner"


def test_boxes_partly_outside_the_frame_are_clipped_not_fatal():
    out = draw_tracks(
        np.zeros((50, 50, 3), np.uint8),
        [TrackedObject(1, (-30.0, -30.0, 200.0, 200.0), 0.5, "person")],
    )
    assert out.shape == (50, 50, 3)


def test_colors_are_stable_per_id_and_differ_between_neighbours():
    assert track_color(5) == track_color(5)
    assert len({track_color(i) for i in range(1, 11)}) == 10


def test_label_shows_only_what_is_enabled():
    t = TrackedObject(4, (0, 0, 1, 1), 0.5, "person")
    assert label_text(t, DrawingConfig()) == "#4 person 0.50"
    assert label_text(t, DrawingConfig(show_score=False, show_class=False)) == "#4"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"line_thickness": 0}, "line_thickness must be in"),
        ({"font_scale": 9.0}, "font_scale must be in"),
    ],
)
def test_invalid_drawing_config_names_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DrawingConfig(**kwargs)
