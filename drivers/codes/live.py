"""The live loop's memory between frames: regions it keeps reading (*tracks*, coordinates only) and which
rescue steps each track gets in a frame. ``DecodePipeline`` (``drivers.codes.pipeline``) holds the tracks
under its lock and runs the steps within the frame's budgets."""

from __future__ import annotations

from dataclasses import dataclass

from drivers.codes.regions import Box, merge_boxes
from drivers.codes.strategies import Strategy

TRACK_FRAMES = 10  # live: a region is read for this many frames after zxing-cpp last located it
TEXTURE_BACKOFF = 8  # live: a texture-only track that had every strategy is read every 8th frame
EXPENSIVE = frozenset({"contrast", "pyzbar", "opencv"})  # rescue steps of several ms each


@dataclass
class Track:
    """A region of the live frame the loop keeps reading (coordinates only, never pixels or payloads)."""

    box: Box
    seen: int  # frame number it was last located in
    turn: int  # rescue strategies it has had so far: the next one in the rotation
    source: str  # "located" (zxing-cpp found a symbol it could not decode), "fine" or "coarse" texture
    first_seen: int = 0  # frame number it was first seen in


def update_tracks(tracks: list[Track], now: int, hints: list[Box], fine: list[Box], coarse: list[Box],
                  keep: int) -> list[Track]:
    """The tracks after frame ``now`` found ``hints`` (located symbols), ``fine`` and ``coarse`` texture:
    the ones seen in the last ``TRACK_FRAMES`` frames, what was found merged into them (or new), located
    ones first, then the most recently seen; at most ``2 * keep``."""
    tracks = [t for t in tracks if now - t.seen <= TRACK_FRAMES]
    found_now = [(b, "located") for b in hints] + [(b, "fine") for b in fine] + \
        [(b, "coarse") for b in coarse]
    for box, source in found_now:
        for t in tracks:
            if len(merge_boxes([t.box, box])) == 1:
                # the same symbol: keep the box that covers it (see merge_boxes)
                t.box = merge_boxes([t.box, box])[0]
                t.seen = now
                if source == "located" and t.source != "located":
                    t.source, t.turn = "located", 0
                break
        else:
            tracks.append(Track(box, now, 0, source, now))
    tracks.sort(key=lambda t: (t.source != "located", -t.seen))
    return tracks[: 2 * keep]


def track_steps(track: Track, turn: int, now: int, strategies: list[Strategy]) -> list[tuple[Strategy, bool]]:
    """The steps one track gets this frame, each with whether it is an extra (only while the frame is
    under the soft budget); none when the track waits.

    The full-resolution read every frame, then this track's next strategy in turn, and more of them
    while the frame is young (under the soft budget). Texture that zxing-cpp never located gets only
    the full-resolution read in the frame it is first seen, then one strategy a frame while it is
    tracked: an empty frame costs little."""
    if not strategies:
        return []
    rotation = strategies[1:]
    texture_only = track.source != "located"
    if texture_only and turn > len(rotation) and now % TEXTURE_BACKOFF:
        return []
    if track.source == "fine" and track.seen != now:
        return []  # fine texture is looked for in every frame: gone means gone
    todo = [(strategies[0], False)]
    if texture_only:  # cheap zxing-cpp strategies only, one a frame after first sight
        rotation = [st for st in rotation if st[0] not in EXPENSIVE]
        if now > track.first_seen:
            todo.append((rotation[turn % len(rotation)], False))
    else:
        todo += [(rotation[(turn + j) % len(rotation)], j > 0) for j in range(len(rotation))]
    return todo
