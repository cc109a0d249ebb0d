#!/usr/bin/env python3
"""Does a static int8 (QDQ) copy of the default detector keep its detections? Measured.

Builds the quantized model with onnxruntime's own ``quantize_static`` (QDQ format, int8
weights and activations, per-channel weights) from the cached float ONNX model the node
uses, calibrated on ``--calib`` frames of the sample video spread over the whole video
(frames 0/200/400/600 of the hand-checked fixture excluded). Then, for float and int8, with 1
and 2 intra-op threads: median ``detect()`` ms over ``--frames`` frames, detections per
frame, recall/precision (IoU >= 0.5) against the 21 hand-checked people of
``test/fixtures/detector/vtest_people.json``, and how many float detections the int8 model
reproduces (IoU >= 0.5, same frame).

Nothing of this is shipped: the node keeps the float model unless these figures say
otherwise. The quantized file is written to the cache directory.

    python scripts/bench_quantized.py --calib 64 --frames 100
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mot_ros.data import cache_dir, default_model_path, sample_video_path  # noqa: E402
from mot_ros.detection.config import DetectorConfig  # noqa: E402
from mot_ros.detection.factory import create_detector  # noqa: E402
from mot_ros.tracking.association import iou_matrix  # noqa: E402

PEOPLE = ROOT / "test" / "fixtures" / "detector" / "vtest_people.json"


def read(video: Path, indices) -> dict[int, np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(video))
    out = {}
    for i in indices:
        cap.set(cv2.CAP_PROP_POS_FRAMES, i)
        ok, frame = cap.read()
        if ok:
            out[i] = frame
    cap.release()
    return out


def matched(boxes: np.ndarray, truth: np.ndarray, min_iou: float = 0.5) -> int:
    if len(boxes) == 0 or len(truth) == 0:
        return 0
    ious = iou_matrix(boxes, truth)
    used = np.zeros(len(truth), bool)
    hits = 0
    for row in ious:
        row = np.where(used, -1.0, row)
        j = int(np.argmax(row))
        if row[j] >= min_iou:
            used[j] = True
            hits += 1
    return hits


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calib", type=int, default=64, help="calibration frames")
    ap.add_argument("--frames", type=int, default=100, help="frames timed and compared")
    args = ap.parse_args()

    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    from mot_ros.detection.formats.tf_to_onnx import cached_onnx_model

    video = sample_video_path()
    float_model = cached_onnx_model(default_model_path())
    int8_model = cache_dir() / "onnx" / (float_model.stem + "-int8-qdq.onnx")
    people = json.loads(PEOPLE.read_text())["frames"]
    checked = sorted(int(k) for k in people)
    base = create_detector(DetectorConfig(preset="person_ssdlite", num_threads=2))

    n = 795
    calib_idx = [i for i in np.linspace(5, n - 5, args.calib).astype(int) if i not in checked]
    calib = read(video, calib_idx)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(calib.values())

        def get_next(self):
            frame = next(self._it, None)
            return None if frame is None else {base._input_name: base.preprocess(frame)}

    t0 = time.perf_counter()
    quantize_static(
        str(float_model),
        str(int8_model),
        Reader(),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
        per_channel=True,
    )
    print(f"quantized {float_model.name} -> {int8_model.name} in {time.perf_counter() - t0:.0f} s")

    test_idx = list(np.linspace(0, n - 1, args.frames).astype(int))
    frames = read(video, sorted(set(test_idx) | set(checked)))
    rows = []
    reference: dict[int, np.ndarray] = {}
    for name, path in (("float32", float_model), ("int8 QDQ", int8_model)):
        for threads in (1, 2):
            det = create_detector(DetectorConfig(preset="person_ssdlite", num_threads=threads))
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.log_severity_level = 3
            det._session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
            times, counts, kept, total = [], [], 0, 0
            for i in test_idx:
                t = time.perf_counter()
                d = det.detect(frames[i])
                times.append((time.perf_counter() - t) * 1000.0)
                counts.append(len(d))
                if name == "float32":
                    reference[i] = d.xyxy
                else:
                    kept += matched(d.xyxy, reference[i])
                    total += len(reference[i])
            tp = fp = 0
            truth_n = 0
            for k in checked:
                truth = np.array([p["xyxy"] for p in people[str(k)]])
                d = det.detect(frames[k])
                hits = matched(d.xyxy, truth)
                tp += hits
                fp += len(d) - hits
                truth_n += len(truth)
            rows.append(
                (
                    name,
                    threads,
                    statistics.median(times),
                    statistics.fmean(counts),
                    f"{tp}/{truth_n}",
                    f"{tp}/{tp + fp}",
                    "–"
                    if name == "float32"
                    else f"{kept}/{total} ({100.0 * kept / max(total, 1):.0f} %)",
                )
            )
    import os

    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(
        "| model | threads | median ms | detections/frame | recall | precision | float boxes kept |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]:.2f} | {r[3]:.2f} | {r[4]} | {r[5]} | {r[6]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
