"""The built-in demo dataset: procedurally rendered people in the OrCam frame-tree layout.

Why it looks the way it does (each choice is there so the dataset is a real recognition problem
on a video-disjoint split, and so super-resolution has something to prove):

* People come in *look-alike groups*. Everyone in a group shares the coarse traits that survive
  at 64 px (skin tone, hair colour and style, face shape, build). Group members differ only in
  fine detail: the orientation and pitch of the hair's strand texture (a few pixels at 256 px,
  averaged away at 64 px), the iris colour, moles, thin glasses frames and eyebrow weight. A 64 px
  classifier can at best name the group; the 256 px truth names the person.
* Per-video traits (clothes, background, lighting, camera distance, JPEG quality) change from one
  video to the next, so a classifier that memorises videos fails on unseen ones.
* Within a sequence the head drifts, blinks and talks, so frames of a sequence are alike but not
  identical.

* Extra test videos (``ingestion.demo.extra_test_videos``) give the test side power without
  touching training: numbered after a person's regular videos and drawn from a stream of their own,
  so every regular video's frames are byte-identical whatever their number; ingestion marks them
  ``test_only`` and sampling puts them on the test side alone.
* Other people (``ingestion.demo.other_people``), rendered into a tree of their own, are for SR
  training only (``srgan_other``): numbered from the first look-alike group after the recognition
  people's, so no one of them is, or looks like, a recognition person.

* Frames of mixed quality (``ingestion.demo.frame_corruption``, a strength in [0, 1]): each frame
  may get motion blur, an occluding patch and under- or over-exposure, each drawn per frame, so
  sequence pooling has good and bad frames to tell apart. The draws come from a random stream of
  their own, made only when the strength is above 0: at 0 every file is byte-identical to a
  renderer without corruption (the tree's marker too, so a cached tree stays valid).

Everything is deterministic from ``seed``: the same parameters give byte-identical files.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from faceless.utils.atomic import check_replaceable, fresh_folder, publish_folder, read_json
from faceless.utils.errors import ConfigError
from faceless.utils.progress import tqdm

#: Bump when the renderer changes, so a cached demo tree made by older code is regenerated.
RENDERER_VERSION = 3
PARAMS_FILE = "demo_params.json"
#: The demo tree's two halves: the frames as a camera gives them, and their high-resolution truth.
FRAMES_FOLDER, TRUTH_FOLDER = "lr", "hr"

HAIR_STYLES = ("short", "long", "fringe", "curly")
STRIPE_ANGLES = (0.0, 45.0, 90.0, 135.0)
IRIS_COLOURS = ((70, 120, 200), (60, 150, 70), (120, 70, 30), (150, 150, 150), (40, 40, 40))


@dataclass(frozen=True)
class DemoSize:
    """How much demo data to render; ranges are inclusive (min, max). Values come from
    ``ingestion.demo`` (conf/ holds them): build it with :meth:`from_params`."""

    people: int
    lookalike_group_size: int
    videos_per_person: tuple[int, int]
    sequences_per_video: tuple[int, int]
    frames_per_sequence: tuple[int, int]
    hr_size: int
    scale: int
    jpeg_quality: tuple[int, int]
    seed: int

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> DemoSize:
        """Build from ``ingestion.demo`` values (a range: n or [min, max]); a bad, unknown or
        missing value raises a one-line ConfigError naming it."""
        fields = sorted(cls.__dataclass_fields__)
        unknown = sorted(set(params) - set(fields))
        if unknown:
            raise ConfigError(f"unknown parameter {', '.join('ingestion.demo.' + k for k in unknown)}; "
                              f"ingestion.demo takes: {', '.join(fields)}")
        missing = [key for key in fields if key not in params]
        if missing:
            raise ConfigError(f"missing parameter {', '.join('ingestion.demo.' + k for k in missing)}")
        known = dict(params)
        for key, upper in RANGE_LIMITS.items():
            known[key] = _as_range(known[key], f"ingestion.demo.{key}", upper)
        for key in ("people", "lookalike_group_size", "hr_size", "scale", "seed"):
            # Two people at least: recognising one is no task (sampling and the classifier need two).
            low = {"seed": 0, "people": 2}.get(key, 1)
            known[key] = _as_int(known[key], f"ingestion.demo.{key}", low=low)
        size = cls(**known)
        if size.people > PEOPLE_LIMIT:
            raise ConfigError(f"ingestion.demo.people must be <= {PEOPLE_LIMIT} (the demo's names and look-alike "
                              f"groups; OrCam's set has 100), got {size.people}")
        most = size.people * size.videos_per_person[1] * size.sequences_per_video[1] * size.frames_per_sequence[1]
        if most > FRAME_LIMIT:
            raise ConfigError(f"ingestion.demo: up to {most:,} frames (people x videos x sequences x frames, at their "
                              f"maxima) is more than the demo renders ({FRAME_LIMIT:,}: twice OrCam's 500k, each with "
                              "its truth); make it smaller, or point ingestion.source=folder at real data")
        if size.scale < 2:
            raise ConfigError(f"ingestion.demo.scale must be >= 2, got {size.scale}")
        if size.hr_size % size.scale or size.hr_size < size.scale:
            raise ConfigError(
                f"ingestion.demo.hr_size ({size.hr_size}) must be a positive multiple of scale ({size.scale})"
            )
        return size

    def as_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


@dataclass(frozen=True)
class DemoConfig:
    """``ingestion.demo`` as conf types it: where the tree goes and how big it is (a range is n or
    [min, max]). Its values are checked on construction, before anything is rendered."""

    root: str
    seed: int
    people: int
    lookalike_group_size: int
    videos_per_person: int | list[int]
    sequences_per_video: int | list[int]
    frames_per_sequence: int | list[int]
    hr_size: int
    scale: int
    jpeg_quality: int | list[int]
    extra_test_videos: int
    other_root: str
    other_people: int
    frame_corruption: float

    def __post_init__(self) -> None:
        self.size()
        if not 0 <= self.frame_corruption <= 1:
            raise ConfigError("ingestion.demo.frame_corruption must be in [0, 1] (0: off), "
                              f"got {self.frame_corruption}")
        _as_int(self.extra_test_videos, "ingestion.demo.extra_test_videos", low=0)
        if self.extra_test_videos > EXTRA_VIDEO_LIMIT:
            raise ConfigError(f"ingestion.demo.extra_test_videos must be <= {EXTRA_VIDEO_LIMIT}, "
                              f"got {self.extra_test_videos}")
        _as_int(self.other_people, "ingestion.demo.other_people", low=0)
        if self.other_root == self.root:
            raise ConfigError(f"ingestion.demo.other_root must differ from ingestion.demo.root ({self.root})")

    def size(self) -> DemoSize:
        return DemoSize.from_params({key: getattr(self, key) for key in DemoSize.__dataclass_fields__})


#: The most people and frames the demo renders: a bound set before any work, so a typo (people=100000000)
#: is one line instead of hours of rendering or a full disk.
PEOPLE_LIMIT = 10_000
FRAME_LIMIT = 1_000_000

#: The most extra test videos a person gets (their numbers follow the person's regular ones).
EXTRA_VIDEO_LIMIT = 100

#: Upper bounds of the [min, max] size parameters (the layout draws numbers from fixed pools).
RANGE_LIMITS = {"videos_per_person": 499, "sequences_per_video": 60, "frames_per_sequence": 1000,
                "jpeg_quality": 100}


def _as_int(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _as_range(value: Any, name: str, upper: int) -> tuple[int, int]:
    """An int n (meaning [n, n]) or a [min, max] pair with 1 <= min <= max <= upper."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        lo, hi = (_as_int(v, name, 1) for v in value)
    elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        lo = hi = _as_int(value, name, 1)
    else:
        raise ConfigError(f"{name} must be an int or a [min, max] pair, got {value!r}")
    if not lo <= hi <= upper:
        raise ConfigError(f"{name} must satisfy 1 <= min <= max <= {upper}, got {value!r}")
    return (lo, hi)


def _rng(*key: Any) -> np.random.Generator:
    """A generator seeded by a tuple of keys, so every person/video/frame is independent of order."""
    digest = hashlib.sha256(repr(key).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


# ----------------------------------------------------------------------------------------------
# Traits
# ----------------------------------------------------------------------------------------------
def group_traits(seed: int, group: int) -> dict[str, Any]:
    """Coarse traits every member of a look-alike group shares (they survive at 64 px)."""
    r = _rng(seed, "group", group)
    skin_base = np.array([[245, 215, 190], [225, 180, 140], [190, 140, 100], [140, 95, 60], [95, 65, 45]])
    t = r.uniform(0, len(skin_base) - 1)
    i = int(t)
    skin = skin_base[i] + (skin_base[min(i + 1, len(skin_base) - 1)] - skin_base[i]) * (t - i)
    hair_palette = np.array([[30, 25, 20], [90, 60, 35], [160, 110, 60], [215, 190, 120], [120, 120, 120],
                             [150, 50, 30]])
    return {
        "skin": skin,
        "hair": hair_palette[r.integers(len(hair_palette))].astype(float) + r.uniform(-15, 15, 3),
        "hair_style": HAIR_STYLES[r.integers(len(HAIR_STYLES))],
        "face_w": r.uniform(0.20, 0.25),   # half-width of the head ellipse, fraction of frame
        "face_h": r.uniform(0.26, 0.31),
        "shoulders": r.uniform(0.42, 0.62),
        "beard": bool(r.random() < 0.25),
    }


def person_traits(seed: int, person: int, group_size: int) -> dict[str, Any]:
    """Coarse group traits plus the fine detail that tells group members apart."""
    group, member = divmod(person, group_size)
    traits = group_traits(seed, group)
    r = _rng(seed, "person", person)
    # Distinct within a group by construction: member m takes the m-th entry of a group shuffle.
    g = _rng(seed, "group-order", group)
    angles = g.permutation(len(STRIPE_ANGLES))
    irises = g.permutation(len(IRIS_COLOURS))
    traits.update(
        {
            "skin": traits["skin"] + r.uniform(-6, 6, 3),
            "stripe_angle": STRIPE_ANGLES[angles[member % len(angles)]],
            "stripe_period": (3, 5)[(member // len(STRIPE_ANGLES)) % 2],
            "iris": np.array(IRIS_COLOURS[irises[member % len(irises)]], float),
            "moles": r.uniform([-0.8, -0.2], [0.8, 0.8], size=(int(r.integers(1, 5)), 2)),
            "glasses": bool((member + g.integers(2)) % 2),
            "brow_px": int(r.integers(2, 6)),
            "brow_tilt": float(r.uniform(-0.06, 0.06)),
            "mouth_w": float(r.uniform(0.28, 0.42)),
        }
    )
    return traits


def video_traits(seed: int, person: int, video: int) -> dict[str, Any]:
    """What changes per video: clothes, set, lighting, camera distance, compression."""
    r = _rng(seed, "video", person, video)
    return {
        "bg": r.uniform(30, 220, 3),
        "bg2": r.uniform(30, 220, 3),
        "bg_shapes": [(r.uniform(0, 1, 4), r.uniform(30, 220, 3)) for _ in range(int(r.integers(2, 6)))],
        "shirt": r.uniform(20, 235, 3),
        "shirt_pattern": int(r.integers(3)),
        "shirt2": r.uniform(20, 235, 3),
        "gain": r.uniform(0.7, 1.25),
        "tint": r.uniform(0.85, 1.15, 3),
        "light_slope": r.uniform(-0.35, 0.35),
        "zoom": r.uniform(0.82, 1.12),
        "centre": r.uniform(-0.06, 0.06, 2),
        "quality_u": r.random(),
    }


# ----------------------------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------------------------
def _stripes(size: int, angle_deg: float, period: int) -> np.ndarray:
    """A 0..1 strand texture: thin dark lines at the given angle and pitch (pixels at HR)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    a = np.deg2rad(angle_deg)
    phase = (xx * np.cos(a) + yy * np.sin(a)) / period
    return (np.mod(phase, 1.0) < 0.45).astype(np.float32)


def _colour(c: np.ndarray) -> tuple[int, int, int]:
    return tuple(int(v) for v in np.clip(c, 0, 255))


@dataclass(frozen=True)
class _Head:
    """Where the head sits in one frame: centre, half-width and half-height (px), and the zoom."""
    cx: float
    cy: float
    fw: float
    fh: float
    zoom: float


def render_frame(person: dict, video: dict, frame_rng: np.random.Generator, t: float, size: int) -> Image.Image:
    """Render one HR frame (size x size RGB). ``t`` in [0, 1] is the time within the sequence.

    The parts draw from ``frame_rng`` in a fixed order (head position, eyes, mouth, sensor noise)."""
    img = Image.new("RGB", (size, size), _colour(video["bg"]))
    _paint_set(img, video)
    head = _head_in_frame(person, video, frame_rng, t, size)
    _paint_clothes(img, person, video, head)
    _paint_head(img, person, head)
    _paint_eyes(img, person, head, frame_rng)
    _paint_nose_and_mouth(img, person, head, frame_rng, t)
    _paint_moles(img, person, head)
    return _light_and_noise(img, video, frame_rng)


def _paint_set(img: Image.Image, video: dict) -> None:
    """The set: a two-tone backdrop with a few props."""
    s = img.size[0]
    d = ImageDraw.Draw(img)
    d.rectangle([0, int(s * 0.6), s, s], fill=_colour(video["bg2"]))
    for box, col in video["bg_shapes"]:
        (x0, x1), (y0, y1) = sorted(box[:2] * s), sorted(box[2:] * s)
        d.rectangle([x0, y0, x1, y0 + (y1 - y0) * 0.5], fill=_colour(col))


def _head_in_frame(person: dict, video: dict, frame_rng: np.random.Generator, t: float, s: int) -> _Head:
    """The head's place and size: the video's framing, a slow sway and zoom over ``t``, a little jitter."""
    zoom = video["zoom"] * (1 + 0.03 * np.sin(2 * np.pi * t))
    cx = s * (0.5 + video["centre"][0] + 0.03 * np.sin(2 * np.pi * (t + frame_rng.uniform(-0.05, 0.05))))
    cy = s * (0.47 + video["centre"][1] + 0.02 * np.cos(2 * np.pi * t))
    return _Head(cx, cy, person["face_w"] * s * zoom, person["face_h"] * s * zoom, zoom)


def _paint_clothes(img: Image.Image, person: dict, video: dict, head: _Head) -> None:
    """Torso and the video's shirt: plain, wide stripes or a V of a second colour."""
    s = img.size[0]
    cx, cy, fh = head.cx, head.cy, head.fh
    sh = person["shoulders"] * s * head.zoom
    torso = [(cx - sh, s), (cx - sh * 0.8, cy + fh * 1.05), (cx + sh * 0.8, cy + fh * 1.05), (cx + sh, s)]
    ImageDraw.Draw(img).polygon(torso, fill=_colour(video["shirt"]))
    if video["shirt_pattern"] == 1:  # wide stripes: coarse, so they never look like hair strands
        mask = Image.new("L", (s, s), 0)
        ImageDraw.Draw(mask).polygon(torso, fill=255)
        band = Image.new("RGB", (s, s), _colour(video["shirt2"]))
        bands = Image.new("L", (s, s), 0)
        bd = ImageDraw.Draw(bands)
        for k in range(0, s, 20):
            bd.rectangle([0, k, s, k + 9], fill=255)
        img.paste(band, (0, 0), Image.fromarray(np.minimum(np.array(mask), np.array(bands))))
    elif video["shirt_pattern"] == 2:
        ImageDraw.Draw(img).polygon(
            [(cx - sh * 0.25, cy + fh * 1.05), (cx, cy + fh * 1.6), (cx + sh * 0.25, cy + fh * 1.05)],
            fill=_colour(video["shirt2"]))


def _paint_head(img: Image.Image, person: dict, head: _Head) -> None:
    """Neck, the hair behind the head, ears, face, then the hair in front (fringe or cap) and beard."""
    cx, cy, fw, fh = head.cx, head.cy, head.fw, head.fh
    skin = person["skin"]
    d = ImageDraw.Draw(img)
    d.rectangle([cx - fw * 0.35, cy + fh * 0.6, cx + fw * 0.35, cy + fh * 1.1], fill=_colour(skin * 0.9))
    _paint_hair(img, _back_hair_mask(img.size[0], person["hair_style"], head), person)
    d = ImageDraw.Draw(img)
    for side in (-1, 1):
        d.ellipse([cx + side * fw * 0.95 - fw * 0.12, cy - fh * 0.15, cx + side * fw * 0.95 + fw * 0.12,
                   cy + fh * 0.2], fill=_colour(skin * 0.92))
    d.ellipse([cx - fw, cy - fh, cx + fw, cy + fh], fill=_colour(skin))
    front = _front_hair_mask(img.size[0], person["hair_style"], head)
    if front is not None:
        _paint_hair(img, front, person)
    if person["beard"]:
        _paint_hair(img, _beard_mask(img.size[0], head), person)


def _back_hair_mask(s: int, style: str, head: _Head) -> Image.Image:
    """The hair drawn before the face: the style's outline around the head (bald: the sides only)."""
    cx, cy, fw, fh = head.cx, head.cy, head.fw, head.fh
    mask = Image.new("L", (s, s), 0)
    hm = ImageDraw.Draw(mask)
    if style in ("long", "curly"):
        spread = 1.25 if style == "curly" else 1.12
        hm.ellipse([cx - fw * spread, cy - fh * 1.1, cx + fw * spread, cy + fh * (0.9 if style == "long" else 0.5)],
                   fill=255)
    elif style != "bald":
        hm.ellipse([cx - fw * 1.05, cy - fh * 1.12, cx + fw * 1.05, cy + fh * 0.2], fill=255)
    if style == "bald":
        hm.ellipse([cx - fw * 1.04, cy - fh * 0.4, cx - fw * 0.8, cy + fh * 0.1], fill=255)
        hm.ellipse([cx + fw * 0.8, cy - fh * 0.4, cx + fw * 1.04, cy + fh * 0.1], fill=255)
    return mask


def _front_hair_mask(s: int, style: str, head: _Head) -> Image.Image | None:
    """The hair drawn over the face: a fringe, a cap on top, or none (bald)."""
    cx, cy, fw, fh = head.cx, head.cy, head.fw, head.fh
    if style == "fringe":
        box = [cx - fw, cy - fh * 1.12, cx + fw, cy - fh * 0.15]
    elif style in ("short", "long", "curly"):
        box = [cx - fw * 1.02, cy - fh * 1.12, cx + fw * 1.02, cy - fh * 0.35]
    else:
        return None
    mask = Image.new("L", (s, s), 0)
    ImageDraw.Draw(mask).chord(box, 180, 360, fill=255)
    return mask


def _beard_mask(s: int, head: _Head) -> Image.Image:
    """The lower half of the face, less the mouth."""
    cx, cy, fw, fh = head.cx, head.cy, head.fw, head.fh
    mask = Image.new("L", (s, s), 0)
    ImageDraw.Draw(mask).chord([cx - fw * 0.95, cy - fh * 0.2, cx + fw * 0.95, cy + fh * 1.02], 0, 180, fill=255)
    ImageDraw.Draw(mask).ellipse([cx - fw * 0.3, cy + fh * 0.32, cx + fw * 0.3, cy + fh * 0.55], fill=0)
    return mask


def _eye_line(head: _Head) -> float:
    return head.cy - head.fh * 0.12


def _paint_eyes(img: Image.Image, person: dict, head: _Head, frame_rng: np.random.Generator) -> None:
    """Eyes (blinking now and then, looking a little aside), eyebrows and glasses.

    The iris colour is identity detail of ~2 px at 64 px; brow weight and tilt are the person's."""
    cx, fw, fh, zoom = head.cx, head.fw, head.fh, head.zoom
    d = ImageDraw.Draw(img)
    eye_y = _eye_line(head)
    blink = frame_rng.random() < 0.12
    look = frame_rng.uniform(-0.04, 0.04) * fw
    for side in (-1, 1):
        ex = cx + side * fw * 0.4
        ew, eh = fw * 0.2, fh * 0.09
        if blink:
            d.line([ex - ew, eye_y, ex + ew, eye_y], fill=_colour(person["skin"] * 0.5), width=2)
        else:
            d.ellipse([ex - ew, eye_y - eh, ex + ew, eye_y + eh], fill=(240, 240, 240))
            ir = eh * 0.95
            d.ellipse([ex + look - ir, eye_y - ir, ex + look + ir, eye_y + ir], fill=_colour(person["iris"]))
            d.ellipse([ex + look - ir * 0.4, eye_y - ir * 0.4, ex + look + ir * 0.4, eye_y + ir * 0.4],
                      fill=(10, 10, 10))
        by = eye_y - fh * 0.2
        tilt = side * person["brow_tilt"] * fh
        d.line([ex - ew * 1.1, by + tilt, ex + ew * 1.1, by - tilt], fill=_colour(person["hair"] * 0.8),
               width=max(1, int(person["brow_px"] * zoom)))
        if person["glasses"]:
            gr = fw * 0.27
            d.ellipse([ex - gr, eye_y - gr * 0.75, ex + gr, eye_y + gr * 0.75], outline=(25, 25, 25),
                      width=max(1, int(2 * zoom)))
    if person["glasses"]:
        d.line([cx - fw * 0.13, eye_y, cx + fw * 0.13, eye_y], fill=(25, 25, 25), width=max(1, int(2 * zoom)))


def _paint_nose_and_mouth(img: Image.Image, person: dict, head: _Head, frame_rng: np.random.Generator,
                          t: float) -> None:
    """The nose, and the mouth talking: it opens and closes within a sequence."""
    cx, cy, fw, fh = head.cx, head.cy, head.fw, head.fh
    d = ImageDraw.Draw(img)
    d.line([cx, _eye_line(head) + fh * 0.1, cx - fw * 0.06, cy + fh * 0.3, cx + fw * 0.04, cy + fh * 0.33],
           fill=_colour(person["skin"] * 0.75), width=2)
    mw = person["mouth_w"] * fw
    my = cy + fh * 0.52
    opening = fh * 0.07 * max(0.0, np.sin(2 * np.pi * (3 * t + frame_rng.uniform(0, 1))))
    d.ellipse([cx - mw, my - 2 - opening, cx + mw, my + 2 + opening], fill=(150, 60, 60))


def _paint_moles(img: Image.Image, person: dict, head: _Head) -> None:
    """Tiny dark dots at the person's own places on the face."""
    d = ImageDraw.Draw(img)
    for mx, my in person["moles"]:
        px, py = head.cx + mx * head.fw * 0.75, head.cy + my * head.fh * 0.75
        r = 1.6 * head.zoom
        d.ellipse([px - r, py - r, px + r, py + r], fill=_colour(person["skin"] * 0.35))


def _light_and_noise(img: Image.Image, video: dict, frame_rng: np.random.Generator) -> Image.Image:
    """Lighting: the video's gain, tint and left-right slope; a little sensor noise per frame."""
    arr = np.asarray(img, dtype=np.float32)
    slope = 1 + video["light_slope"] * (np.linspace(-1, 1, img.size[0], dtype=np.float32)[None, :, None])
    arr = arr * video["gain"] * video["tint"][None, None, :].astype(np.float32) * slope
    arr += frame_rng.normal(0, 3.0, arr.shape).astype(np.float32)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


_STRIPE_CACHE: dict[tuple[int, float, int], np.ndarray] = {}


def _paint_hair(img: Image.Image, mask: Image.Image, person: dict) -> None:
    """Fill ``mask`` with hair: the group's colour modulated by the person's strand texture."""
    s = img.size[0]
    key = (s, person["stripe_angle"], person["stripe_period"])
    if key not in _STRIPE_CACHE:
        _STRIPE_CACHE[key] = _stripes(s, person["stripe_angle"], person["stripe_period"])
    stripes = _STRIPE_CACHE[key]
    base = person["hair"]
    # Strands darker than light hair, lighter than dark hair, so the texture shows on every colour.
    strand = base * 0.45 if base.mean() > 80 else base + 75
    hair = base[None, None, :] + (strand - base)[None, None, :] * stripes[..., None]
    hair_img = Image.fromarray(np.clip(hair, 0, 255).astype(np.uint8))
    img.paste(hair_img, (0, 0), mask)


# ----------------------------------------------------------------------------------------------
# Frames of mixed quality
# ----------------------------------------------------------------------------------------------
#: Each kind of corruption strikes a frame with this probability times the strength (independently):
#: at strength 1 about a fifth of the frames stay clean, at 0.5 about half.
CORRUPTION_RATE = 0.4


@dataclass(frozen=True)
class FrameCorruption:
    """What happens to one frame, sizes as fractions of the frame: ``blur`` (length, angle in degrees)
    of a straight camera motion; ``occluder`` (x0, y0, x1, y1) and its RGB ``occluder_colour``;
    ``exposure_stops`` (+ over, - under). None: that kind does not strike."""

    blur: tuple[float, float] | None
    occluder: tuple[float, float, float, float] | None
    occluder_colour: tuple[int, int, int]
    exposure_stops: float | None

    @property
    def clean(self) -> bool:
        return self.blur is None and self.occluder is None and self.exposure_stops is None


def draw_corruption(rng: np.random.Generator, strength: float) -> FrameCorruption:
    """One frame's corruption at ``strength`` in (0, 1]: which kinds strike (each with probability
    :data:`CORRUPTION_RATE` x strength) and how hard (up to the strength). Every value is drawn
    whether used or not, so the stream's order never depends on the outcome."""
    strikes = rng.random(3) < CORRUPTION_RATE * strength
    severity = strength * (0.5 + 0.5 * rng.random(3))
    angle, centre, colour, sign = rng.uniform(0, 180), rng.uniform(0.3, 0.7, 2), rng.integers(0, 256, 3), rng.random()
    # At strength 1: blur over 7-15 % of the frame (5-10 px at 64 px), a patch of 33-45 % of its
    # side over the face, 1.1-1.7 stops off: bad frames, mostly still a face, some beyond use.
    side = 0.2 + 0.25 * severity[1]
    box = (centre[0] - side / 2, centre[1] - side / 2, centre[0] + side / 2, centre[1] + side / 2)
    return FrameCorruption(
        blur=(0.15 * severity[0], float(angle)) if strikes[0] else None,
        occluder=tuple(float(v) for v in box) if strikes[1] else None,
        occluder_colour=tuple(int(v) for v in colour),
        exposure_stops=float((0.5 + 1.2 * severity[2]) * (1 if sign < 0.5 else -1)) if strikes[2] else None,
    )


def frame_corruption(seed: int, person: int, video: int, sequence: int, frame: int, strength: float
                     ) -> FrameCorruption | None:
    """The corruption the demo gives a frame at ``strength`` (None at 0: no stream is even drawn)."""
    if strength <= 0:
        return None
    return draw_corruption(_rng(seed, "corruption", person, video, sequence, frame), strength)


def corrupt_frame(img: Image.Image, corruption: FrameCorruption) -> Image.Image:
    """``img`` with ``corruption``: the occluder is in the scene, the blur is the camera's motion
    over it, the exposure the sensor's (clipped as a sensor clips)."""
    s = img.size[0]
    if corruption.occluder is not None:
        img = img.copy()
        ImageDraw.Draw(img).rectangle([v * s for v in corruption.occluder], fill=corruption.occluder_colour)
    arr = np.asarray(img, dtype=np.float32)
    if corruption.blur is not None:
        arr = _motion_blur(arr, corruption.blur[0] * s, corruption.blur[1])
    if corruption.exposure_stops is not None:
        arr = arr * np.float32(2.0 ** corruption.exposure_stops)
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8))


def _motion_blur(arr: np.ndarray, length: float, angle_deg: float) -> np.ndarray:
    """The mean of ``arr`` shifted along a line of ``length`` px at ``angle_deg`` (edges repeated)."""
    taps = max(2, int(round(length)) + 1)
    a = np.deg2rad(angle_deg)
    steps = np.linspace(-length / 2, length / 2, taps)
    shifts = [(int(round(t * np.sin(a))), int(round(t * np.cos(a)))) for t in steps]
    pad = max(1, max(max(abs(dy), abs(dx)) for dy, dx in shifts))
    padded = np.pad(arr, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    h, w = arr.shape[:2]
    out = np.zeros_like(arr)
    for dy, dx in shifts:
        out += padded[pad + dy:pad + dy + h, pad + dx:pad + dx + w]
    return out / len(shifts)


# ----------------------------------------------------------------------------------------------
# Layout and writing
# ----------------------------------------------------------------------------------------------
def plan_tree(size: DemoSize, extra_test_videos: int = 0, people: Sequence[int] | None = None
              ) -> list[dict[str, Any]]:
    """The folder numbers, per person: non-dense, not starting at 0, like the real data.

    ``people``: the person numbers to plan (default ``0 .. size.people - 1``). ``extra_test_videos``
    more videos a person, numbered after the person's regular ones and marked ``test_only``: they
    are drawn from a random stream of their own, so every regular video, sequence and frame number
    is the same whatever their count (and the frames, keyed by those numbers, byte-identical).
    """
    plan = []
    for person in range(size.people) if people is None else people:
        r = _rng(size.seed, "layout", person)
        n_videos = int(r.integers(size.videos_per_person[0], size.videos_per_person[1] + 1))
        videos = sorted(r.choice(np.arange(1, 500), n_videos, replace=False).tolist())
        entries = _plan_videos(r, size, videos, test_only=False)
        if extra_test_videos:
            extra = _rng(size.seed, "layout-extra-test", person)
            numbers = (max(videos) + np.cumsum(extra.integers(1, 4, extra_test_videos))).tolist()
            entries += _plan_videos(extra, size, numbers, test_only=True)
        plan.append({"person": person, "entries": entries})
    return plan


def _plan_videos(r: np.random.Generator, size: DemoSize, videos: list[int], test_only: bool) -> list[dict[str, Any]]:
    """The sequences and frame numbers of ``videos``, drawn from ``r`` in a fixed order."""
    entries = []
    for video in videos:
        n_seq = int(r.integers(size.sequences_per_video[0], size.sequences_per_video[1] + 1))
        seqs = sorted(r.choice(np.arange(0, 60), n_seq, replace=False).tolist())
        for seq in seqs:
            n_frames = int(r.integers(size.frames_per_sequence[0], size.frames_per_sequence[1] + 1))
            first = int(r.integers(1, 40))
            frames = (first + np.cumsum(r.integers(1, 4, n_frames)) - 1).tolist()
            entries.append({"video": video, "sequence": seq, "frames": frames, "test_only": test_only})
    return entries


def test_only_videos(plan: list[dict[str, Any]]) -> list[list[int]]:
    """[person, video] of every video the plan marks ``test_only``, sorted."""
    return [list(pair) for pair in sorted({(p["person"], e["video"]) for p in plan for e in p["entries"]
                                            if e["test_only"]})]


def other_people_numbers(size: DemoSize, other_people: int) -> list[int]:
    """The person numbers of the demo's other people (SR training only): they start at the first
    look-alike group after the recognition people's, so they share neither a number, a name nor a
    group (the coarse traits) with anyone in the recognition set."""
    group = size.lookalike_group_size
    first = -(-size.people // group) * group
    return list(range(first, first + other_people))


def _frame_rel(person: int, video: int, seq: int, frame: int, ext: str) -> str:
    return f"person_{person:04d}/video_{video:04d}/seq_{seq:04d}/frame_{frame:05d}.{ext}"


def _render_person(args: tuple[DemoSize, dict[str, Any], str, float]) -> int:
    size, person_plan, out_dir, corruption_strength = args
    out = Path(out_dir)
    p = person_plan["person"]
    person = person_traits(size.seed, p, size.lookalike_group_size)
    lr_px = size.hr_size // size.scale
    written = 0
    for entry in person_plan["entries"]:
        video = video_traits(size.seed, p, entry["video"])
        q_lo, q_hi = size.jpeg_quality
        quality = int(round(q_lo + (q_hi - q_lo) * video["quality_u"]))
        frames = entry["frames"]
        for k, frame in enumerate(frames):
            frame_rng = _rng(size.seed, "frame", p, entry["video"], entry["sequence"], frame)
            t = k / max(1, len(frames))
            hr = render_frame(person, video, frame_rng, t, size.hr_size)
            corruption = frame_corruption(size.seed, p, entry["video"], entry["sequence"], frame, corruption_strength)
            if corruption is not None and not corruption.clean:
                hr = corrupt_frame(hr, corruption)  # the truth shows it too: it happened in front of the camera
            # Slight optical blur before sampling, as a camera has; then 4x area downscale + JPEG.
            lr = hr.filter(ImageFilter.GaussianBlur(0.6)).resize((lr_px, lr_px), Image.Resampling.BOX)
            lr_path = out / FRAMES_FOLDER / _frame_rel(p, entry["video"], entry["sequence"], frame, "jpg")
            hr_path = out / TRUTH_FOLDER / _frame_rel(p, entry["video"], entry["sequence"], frame, "png")
            lr_path.parent.mkdir(parents=True, exist_ok=True)
            hr_path.parent.mkdir(parents=True, exist_ok=True)
            lr.save(lr_path, quality=quality)
            hr.save(hr_path, compress_level=1)
            written += 1
    return written


def demo_fingerprint(size: DemoSize, extra_test_videos: int = 0, frame_corruption: float = 0.0) -> dict[str, Any]:
    # The corruption's strength only when on: a tree rendered without it keeps its marker as it was.
    corruption = {"frame_corruption": frame_corruption} if frame_corruption > 0 else {}
    return {"renderer_version": RENDERER_VERSION, **size.as_dict(), "extra_test_videos": extra_test_videos,
            **corruption}


def generate_demo(root: str | os.PathLike, size: DemoSize, workers: int, progress: bool = True,
                  extra_test_videos: int = 0, frame_corruption: float = 0.0) -> dict:
    """Render the demo tree under ``root`` (``root/lr`` 64 px JPEGs, ``root/hr`` 256 px PNGs).

    ``extra_test_videos`` more videos a person, after the regular ones, listed in the returned
    ``test_only_videos`` ([person, video] pairs): sampling puts them on the test side alone. The
    regular videos' files are byte-identical whatever their number. ``frame_corruption``: the
    strength of the per-frame corruptions (:func:`frame_corruption`; 0: none).

    Skips the work when ``root`` already holds a complete tree made with the same parameters.
    Renders into a temporary sibling folder and renames it at the end, so an interrupted run
    never leaves a tree that looks complete.
    """
    plan = plan_tree(size, extra_test_videos)
    info = _render_tree(Path(root), size, plan, demo_fingerprint(size, extra_test_videos, frame_corruption),
                        "ingestion.demo.root", workers, progress, {"test_only_videos": test_only_videos(plan)},
                        frame_corruption)
    return info


def generate_other_demo(root: str | os.PathLike, size: DemoSize, other_people: int, workers: int,
                        progress: bool = True, frame_corruption: float = 0.0) -> dict:
    """Render ``other_people`` more people, for SR training only, under ``root`` (``lr/``, ``hr/``
    as :func:`generate_demo`): numbered after the recognition people's look-alike groups
    (:func:`other_people_numbers`), with the same size ranges, the same camera (``frame_corruption``)
    and no extra test videos. Cached and published like the demo tree; nothing is written when
    ``other_people`` is 0."""
    people = other_people_numbers(size, other_people)
    wanted = {**demo_fingerprint(size, frame_corruption=frame_corruption), "other_people": other_people,
              "first_person": people[0] if people else None}
    if not people:
        return {"fingerprint": wanted, "frames": 0, "people": 0, "person_numbers": [], "generated": False}
    plan = plan_tree(size, people=people)
    return _render_tree(Path(root), size, plan, wanted, "ingestion.demo.other_root", workers, progress,
                        {"person_numbers": people}, frame_corruption)


def _render_tree(root: Path, size: DemoSize, plan: list[dict[str, Any]], wanted: dict[str, Any], name: str,
                 workers: int, progress: bool, extra_info: dict[str, Any], frame_corruption: float) -> dict:
    """Render ``plan`` into ``root`` unless its marker already holds the ``wanted`` fingerprint."""
    marker = root / PARAMS_FILE
    info = read_json(marker)  # {} when missing or unreadable: then it vouches for nothing
    if info.get("fingerprint") == wanted:
        return {**info, "generated": False}

    # Only a tree this project rendered (its marker's token recorded) is ever replaced; a user's folder
    # is refused before any work, whatever files it holds.
    check_replaceable(root, name)
    tmp = fresh_folder(root, name)
    jobs = [(size, person_plan, str(tmp), frame_corruption) for person_plan in plan]
    frames = 0
    bar = tqdm(total=len(jobs), desc="rendering demo people", unit="person", disable=not progress)
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for n in pool.map(_render_person, jobs):
                frames += n
                bar.update()
    else:
        for job in jobs:
            frames += _render_person(job)
            bar.update()
    bar.close()
    info = {"fingerprint": wanted, "frames": frames, "people": len(plan), **extra_info}
    (tmp / PARAMS_FILE).write_text(json.dumps(info, indent=2))
    publish_folder(tmp, root, name)
    return {**info, "generated": True}
