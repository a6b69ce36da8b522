"""Is a live person in front of the camera? An active turn prompt, checked on the face's own geometry.

Active, :class:`TurnChallenge`: the resident is asked to turn the head a little to one side, chosen at random
each attempt. The cue is :func:`yaw_ratio`, where the base of the nose sits between the eyes, in units of the
eyes' distance, measured in the eyes' own frame. A turning head moves the nose against the eyes (the nose
stands out of the face); a photo, printed or on a phone, turned, tilted, moved or bent as a whole keeps the
ratio (any rotation of a flat picture maps the nose and the eyes alike), so a held-up picture cannot answer the
prompt. The same face (by descriptor) must be seen frontal and then turned.

The side is drawn at random each attempt, so a recorded video of the resident turning one way answers only
half the prompts at best (and the resident gets three attempts in all).

Limits (docs/OPERATIONS.md says them too): a live video of the resident turning on demand, replayed from a
screen, or a 3D mask, is not caught; certified 人证核验 devices add an infrared or depth camera for that.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field

import numpy as np

LEFT = "left"  # the resident's own left: the nose moves to the camera image's right (the image is not mirrored)
RIGHT = "right"


def yaw_ratio(points: np.ndarray) -> float:
    """Where the nose base lies along the eye line, from the eyes' midpoint, in eye distances.

    dlib's 5 points: 0-1 one eye's corners (the image's right eye), 2-3 the other's, 4 the nose base.
    Positive when the nose is toward the image's right (the resident turned to their left)."""
    eye_a = points[0:2].mean(axis=0)
    eye_b = points[2:4].mean(axis=0)
    axis = eye_a - eye_b
    span = float(np.linalg.norm(axis))
    if span < 1e-6:
        return 0.0
    unit = axis / span
    return float(np.dot(points[4] - (eye_a + eye_b) / 2, unit) / span)


class TurnState(enum.Enum):
    WAIT_FRONTAL = "wait_frontal"  # look straight at the screen first
    WAIT_TURN = "wait_turn"  # now turn the head to the asked side
    PASSED = "passed"


@dataclass
class TurnChallenge:
    """Frontal, then turned to ``direction`` by at least ``turn`` (about 10 degrees), the same face."""

    direction: str = field(default_factory=lambda: random.SystemRandom().choice((LEFT, RIGHT)))
    frontal: float = 0.08
    turn: float = 0.15
    state: TurnState = TurnState.WAIT_FRONTAL
    frontal_ratio: float | None = None
    peak: float = 0.0  # the largest turn toward the asked side seen so far (for the bench and the log)

    def feed(self, ratio: float) -> TurnState:
        if self.state is TurnState.WAIT_FRONTAL:
            if abs(ratio) <= self.frontal:
                self.frontal_ratio = ratio
                self.state = TurnState.WAIT_TURN
            return self.state
        if self.state is TurnState.WAIT_TURN:
            toward = ratio if self.direction == LEFT else -ratio
            self.peak = max(self.peak, toward)
            if toward >= self.turn:
                self.state = TurnState.PASSED
        return self.state
