"""A constant-velocity Kalman filter for one box, the tracker's motion model.

The state is ``(cx, cy, w, h, vx, vy)``: the box centre moves with a constant velocity
(pixels per frame), the size is a random walk. Size velocity is left out on purpose: it is
poorly observed from jittery detections and, extrapolated over an occlusion, makes boxes
grow or shrink without bound, while people and cars change apparent size slowly.

Noise is proportional to the box height (as in DeepSORT), so one set of constants works
for a 20 px pedestrian far away and a 300 px one close to the camera. The filter serves
two purposes: it smooths jittery detections into a steady box, and it predicts where a
track that nobody observes (occluded, or missed by both the detector and dlib) is going
to reappear, which is what lets association give it back its old id.

Pure NumPy; no OpenCV or dlib here.
"""

from __future__ import annotations

import numpy as np

_F = np.eye(6)
_F[0, 4] = _F[1, 5] = 1.0  # one frame per step
_H = np.eye(4, 6)


def xyxy_to_cxcywh(xyxy: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    return np.array([(x1 + x2) / 2.0, (y1 + y2) / 2.0, x2 - x1, y2 - y1])


def cxcywh_to_xyxy(z: np.ndarray) -> np.ndarray:
    cx, cy, w, h = (float(v) for v in z[:4])
    return np.array([cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0])


class ConstantVelocityBox:
    """Kalman filter over one box with a constant-velocity centre and a slowly drifting size.

    ``position_noise`` and ``velocity_noise`` are per-frame process standard deviations as a
    fraction of the box height; ``measurement_noise`` is the standard deviation of a
    detection's centre and size, also relative to the height. Lower measurement noise
    follows detections more closely (less lag, more jitter); higher smooths more but lags
    on turns. The defaults suit detector boxes jittering by a few percent of their size.
    """

    def __init__(
        self,
        xyxy: np.ndarray,
        *,
        position_noise: float = 1.0 / 20.0,
        velocity_noise: float = 1.0 / 160.0,
        measurement_noise: float = 1.0 / 20.0,
    ) -> None:
        self._pos_noise = position_noise
        self._vel_noise = velocity_noise
        self._meas_noise = measurement_noise
        z = xyxy_to_cxcywh(xyxy)
        self.x = np.concatenate([z, np.zeros(2)])
        h = max(z[3], 1.0)
        # The first box fixes the position well; the velocity is unknown, so its variance is
        # large enough for the second measurement to set it almost alone.
        std = np.array([2 * self._meas_noise * h] * 4 + [10 * self._vel_noise * h] * 2)
        self.P = np.diag(std**2)

    @property
    def xyxy(self) -> np.ndarray:
        return cxcywh_to_xyxy(self.x)

    @property
    def velocity(self) -> np.ndarray:
        """Centre velocity ``(vx, vy)`` in pixels per frame."""
        return self.x[4:6].copy()

    def predict(self) -> np.ndarray:
        """Advance one frame; returns the predicted box as xyxy."""
        h = max(self.x[3], 1.0)
        q = np.array(
            [self._pos_noise * h] * 2 + [self._pos_noise * h * 0.5] * 2 + [self._vel_noise * h] * 2
        )
        self.x = _F @ self.x
        self.P = _F @ self.P @ _F.T + np.diag(q**2)
        # A size can never become non-positive, whatever the noise did.
        self.x[2] = max(self.x[2], 1.0)
        self.x[3] = max(self.x[3], 1.0)
        return self.xyxy

    def state(self) -> tuple[np.ndarray, np.ndarray]:
        """A copy of ``(x, P)``, to replay from later (:meth:`restore`)."""
        return self.x.copy(), self.P.copy()

    def restore(self, state: tuple[np.ndarray, np.ndarray]) -> None:
        self.x, self.P = state[0].copy(), state[1].copy()

    def warp(self, affine: np.ndarray) -> np.ndarray:
        """Move the state by a 2x3 image transform (the camera moved between frames).

        The centre is mapped, the velocity turned and scaled with the linear part, the
        size scaled by its mean scale (sqrt of the determinant), and the covariance
        carried along. Returns the new box.
        """
        self.x, self.P = warp_state(self.x, self.P, affine)
        return self.xyxy

    def update(self, xyxy: np.ndarray, noise_scale: float = 1.0) -> np.ndarray:
        """Fuse a measured box; ``noise_scale`` > 1 trusts it less (e.g. a dlib box).

        Returns the corrected box as xyxy.
        """
        z = xyxy_to_cxcywh(xyxy)
        h = max(self.x[3], 1.0)
        r = (self._meas_noise * noise_scale * h) ** 2
        s = _H @ self.P @ _H.T + np.eye(4) * r
        k = np.linalg.solve(s, _H @ self.P).T  # P H^T S^-1, S symmetric
        self.x = self.x + k @ (z - _H @ self.x)
        self.P = (np.eye(6) - k @ _H) @ self.P
        self.x[2] = max(self.x[2], 1.0)
        self.x[3] = max(self.x[3], 1.0)
        return self.xyxy


def warp_state(x: np.ndarray, P: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(x, P)`` of a ``(cx, cy, w, h, vx, vy)`` state under a 2x3 affine image transform."""
    a = np.asarray(affine, dtype=np.float64).reshape(2, 3)
    lin = a[:, :2]
    scale = float(np.sqrt(abs(np.linalg.det(lin))))
    t = np.zeros((6, 6))
    t[0:2, 0:2] = lin
    t[2, 2] = t[3, 3] = scale
    t[4:6, 4:6] = lin
    x = t @ x
    x[0:2] += a[:, 2]
    x[2] = max(x[2], 1.0)
    x[3] = max(x[3], 1.0)
    return x, t @ P @ t.T
