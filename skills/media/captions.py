"""Burnt-in captions: word-timed karaoke or sentence cards, inside the platforms' safe areas.

* Safe area: on 9:16 the UI of Shorts, TikTok and Reels covers the bottom (description,
  sound, navigation) and the right-hand edge (like/comment/share buttons); nothing is drawn
  under them (`safe_area`). Other aspects keep a plain margin.
* Layout: text is wrapped to the safe width (a word too wide for a line is broken between
  characters, which is also how CJK text without spaces wraps) and the font shrinks until the
  block fits its band: text never leaves the frame. Every image's box is returned, so the
  quality gate can check it.
* Fonts fall back per character: the Latin/Greek/Cyrillic face (Noto Sans Bold or DejaVu Sans
  Bold), Noto Sans CJK for Chinese, Japanese and Korean, Noto Color Emoji for emoji (a bitmap
  font drawn at its one size and scaled). The faces come from Debian's fonts-noto-* packages.
* Styles: "karaoke" shows a few words at a time with the word being spoken highlighted;
  "sentence" shows the whole line on a translucent card.

Each caption state is one RGBA image of the caption band, rendered once with Pillow; the
renderer lays them end to end as one overlay stream (an ffmpeg concat list), so the per-frame
cost is a single overlay.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from PIL import Image, ImageDraw, ImageFont

from skills.media.align import TimedWord

CaptionStyle = Literal["karaoke", "sentence"]

PRIMARY_FONTS = (
    "/usr/share/fonts/truetype/noto/NotoSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf",
)
CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)
EMOJI_FONTS = ("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf",)
EMOJI_STRIKE = 109  # Noto Color Emoji's only bitmap size
HIGHLIGHT = (255, 214, 10, 255)
WHITE = (255, 255, 255, 255)
BLACK = (0, 0, 0, 255)


@dataclass(frozen=True)
class Box:
    """A rectangle in frame pixels."""

    x: int
    y: int
    w: int
    h: int

    @property
    def right(self) -> int:
        return self.x + self.w

    @property
    def bottom(self) -> int:
        return self.y + self.h

    def inside(self, other: Box) -> bool:
        return (
            self.x >= other.x
            and self.y >= other.y
            and self.right <= other.right
            and self.bottom <= other.bottom
        )


def safe_area(width: int, height: int) -> Box:
    """Where text may go. Vertical video: clear of the top bar (8 %), the bottom UI (22 %),
    the right-hand buttons (15 %) and a left margin (6 %); otherwise 5 % on every side."""
    if height > width:
        left, right = round(width * 0.06), round(width * 0.15)
        top, bottom = round(height * 0.08), round(height * 0.22)
    else:
        left = right = round(width * 0.05)
        top = bottom = round(height * 0.05)
    return Box(left, top, width - left - right, height - top - bottom)


# --- Fonts with fallback --------------------------------------------------------------------------
def _first(paths: tuple[str, ...]) -> str | None:
    return next((p for p in paths if Path(p).is_file()), None)


@lru_cache(maxsize=16)
def _cmap(path: str) -> frozenset[int]:
    from fontTools.ttLib import TTCollection, TTFont

    if path.endswith(".ttc"):
        font = TTCollection(path, lazy=True).fonts[0]
    else:
        font = TTFont(path, lazy=True)
    return frozenset(font.getBestCmap() or {})


@lru_cache(maxsize=128)
def _face(path: str | None, size: int, _thread: int) -> Any:
    if path is None:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(path, size)


class Fonts:
    """A primary face with CJK and emoji fallbacks, at one size."""

    def __init__(self, size: int, primary: str | None = None) -> None:
        self.size = size
        self.primary = primary if primary and Path(primary).is_file() else _first(PRIMARY_FONTS)
        self.cjk = _first(CJK_FONTS)
        self.emoji = _first(EMOJI_FONTS)

    def face(self, path: str | None, size: int | None = None) -> Any:
        return _face(path, size or self.size, threading.get_ident())

    def pick(self, char: str) -> str | None:
        """The font file that has `char` (primary first); None: Pillow's default."""
        code = ord(char)
        for path in (self.primary, self.cjk, self.emoji):
            if path is not None and code in _cmap(path):
                return path
        return self.primary

    def runs(self, text: str) -> list[tuple[str, str | None]]:
        """`text` cut into runs that one font draws."""
        out: list[tuple[str, str | None]] = []
        for char in text:
            # Joiners, variation selectors and spaces stay with the run before them.
            joins = bool(out) and (char in "\u200d\ufe0f" or char.isspace())
            path = out[-1][1] if joins else self.pick(char)
            if out and out[-1][1] == path:
                out[-1] = (out[-1][0] + char, path)
            else:
                out.append((char, path))
        return out

    def _emoji_scale(self) -> float:
        return self.size / EMOJI_STRIKE

    def length(self, text: str) -> float:
        total = 0.0
        for run, path in self.runs(text):
            if path is not None and path == self.emoji:
                total += self.face(path, EMOJI_STRIKE).getlength(run) * self._emoji_scale()
            else:
                total += self.face(path).getlength(run)
        return total

    def draw(
        self,
        image: Image.Image,
        xy: tuple[float, float],
        text: str,
        fill: tuple[int, int, int, int],
        stroke: int,
    ) -> None:
        """Draw `text` with its top-left at `xy`, each run in its own font."""
        draw = ImageDraw.Draw(image)
        x, y = xy
        ascent = self.face(self.primary).getmetrics()[0]
        for run, path in self.runs(text):
            if path is not None and path == self.emoji:
                face = self.face(path, EMOJI_STRIKE)
                width = face.getlength(run)
                tile = Image.new("RGBA", (max(1, int(width)), round(EMOJI_STRIKE * 1.25)))
                ImageDraw.Draw(tile).text((0, 0), run, font=face, embedded_color=True)
                scale = self._emoji_scale()
                tile = tile.resize(
                    (max(1, round(tile.width * scale)), max(1, round(tile.height * scale))),
                    Image.Resampling.LANCZOS,
                )
                image.alpha_composite(tile, (round(x), round(y + ascent * 0.12)))
                x += width * scale
                continue
            face = self.face(path)
            # Align the baselines of different faces on the primary face's ascent.
            offset = ascent - face.getmetrics()[0]
            draw.text(
                (x, y + offset), run, font=face, fill=fill, stroke_width=stroke, stroke_fill=BLACK
            )
            x += face.getlength(run)


# --- Layout ---------------------------------------------------------------------------------------
def wrap(words: list[str], fonts: Fonts, max_width: float) -> list[list[str]]:
    """Words in lines no wider than `max_width`; a word wider than that is split by characters."""
    pieces: list[str] = []
    for word in words:
        if fonts.length(word) <= max_width:
            pieces.append(word)
            continue
        current = ""
        for char in word:
            if current and fonts.length(current + char) > max_width:
                pieces.append(current)
                current = char
            else:
                current += char
        if current:
            pieces.append(current)
    lines: list[list[str]] = []
    for piece in pieces:
        trial = [*lines[-1], piece] if lines else [piece]
        if lines and fonts.length(" ".join(trial)) <= max_width:
            lines[-1] = trial
        else:
            lines.append([piece])
    return lines


@dataclass
class Layout:
    fonts: Fonts
    lines: list[list[str]]
    line_h: int
    stroke: int
    pad: int

    @property
    def height(self) -> int:
        return self.line_h * len(self.lines) + 2 * self.pad

    def width(self) -> int:
        return round(max(self.fonts.length(" ".join(line)) for line in self.lines)) + 2 * self.pad


def fit(
    words: list[str], size: int, max_w: int, max_h: int, primary: str | None, min_size: int = 10
) -> Layout:
    """The largest layout of `words` (from `size` down) that fits `max_w` x `max_h`."""
    while True:
        fonts = Fonts(size, primary)
        stroke = max(1, size // 12)
        pad = max(4, size // 3)
        ascent, descent = fonts.face(fonts.primary).getmetrics()
        layout = Layout(fonts, [], ascent + descent + 2 * stroke, stroke, pad)
        layout.lines = wrap(words, fonts, max_w - 2 * pad - 2 * stroke) or [[" "]]
        if (layout.height <= max_h and layout.width() <= max_w) or size <= min_size:
            return layout
        size = max(min_size, int(size * 0.88))


def render_block(
    layout: Layout,
    band: tuple[int, int],
    highlight: int | None = None,
    card: bool = False,
) -> tuple[Image.Image, Box]:
    """The laid-out words centred in a transparent `band` image; word `highlight` (an index
    over all words) drawn on a coloured pill. Returns the image and the text's box in it."""
    band_w, band_h = band
    image = Image.new("RGBA", band, (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    fonts, pad, stroke = layout.fonts, layout.pad, layout.stroke
    block_w = min(band_w, layout.width())
    block_h = min(band_h, layout.height)
    x0 = (band_w - block_w) // 2
    y0 = (band_h - block_h) // 2
    if card:
        draw.rounded_rectangle(
            (x0, y0, x0 + block_w - 1, y0 + block_h - 1), radius=pad, fill=(0, 0, 0, 150)
        )
    space = fonts.length(" ")
    index = 0
    for row, line in enumerate(layout.lines):
        line_w = fonts.length(" ".join(line))
        x = x0 + (block_w - line_w) / 2
        y = y0 + pad + row * layout.line_h + stroke
        for word in line:
            word_w = fonts.length(word)
            if highlight is not None and index == highlight:
                grow = stroke * 2
                draw.rounded_rectangle(
                    (x - grow, y - stroke, x + word_w + grow, y + layout.line_h - stroke),
                    radius=max(3, layout.line_h // 5),
                    fill=(232, 54, 92, 235),
                )
            fonts.draw(image, (x, y), word, WHITE, stroke)
            x += word_w + space
            index += 1
    return image, Box(x0, y0, block_w, block_h)


# --- Caption tracks -------------------------------------------------------------------------------
@dataclass
class CaptionFrame:
    """One caption state: `image` (None: nothing) shown from `start` to `end`."""

    start: float
    end: float
    image: Image.Image | None
    box: Box | None  # in frame pixels
    word: int | None = None  # karaoke: the index (in the track's words) of the lit word


@dataclass
class CaptionTrack:
    """The caption states of a video, end to end, and where their band sits in the frame."""

    band: Box
    frames: list[CaptionFrame]
    style: CaptionStyle

    def boxes(self) -> list[Box]:
        return [f.box for f in self.frames if f.box is not None]


def caption_band(width: int, height: int) -> Box:
    """The band captions live in: the lower-middle of the safe area."""
    safe = safe_area(width, height)
    band_h = round(safe.h * (0.30 if height > width else 0.34))
    centre = safe.y + round(safe.h * (0.70 if height > width else 0.80))
    top = min(max(safe.y, centre - band_h // 2), safe.bottom - band_h)
    return Box(safe.x, top, safe.w, band_h)


def chunks(words: list[TimedWord], max_words: int = 3, max_chars: int = 18) -> list[list[int]]:
    """Indexes of `words` in groups of a few, never across a line of the script or a pause."""
    groups: list[list[int]] = []
    for i, word in enumerate(words):
        if groups:
            last = groups[-1]
            prev = words[last[-1]]
            chars = sum(len(words[k].text) + 1 for k in last) + len(word.text)
            if (
                len(last) < max_words
                and chars <= max_chars
                and prev.line == word.line
                and word.start - prev.end < 0.35
                and not prev.text.endswith((".", "!", "?", ","))
            ):
                last.append(i)
                continue
        groups.append([i])
    return groups


def _placed(box: Box, band: Box) -> Box:
    return Box(band.x + box.x, band.y + box.y, box.w, box.h)


def karaoke_track(
    words: list[TimedWord], width: int, height: int, duration: float, font: str | None
) -> CaptionTrack:
    """A few words at a time, the spoken one highlighted; each group stays until the next."""
    band = caption_band(width, height)
    size = max(12, round(min(width, height) * 0.085))
    frames: list[CaptionFrame] = []
    groups = chunks(words)
    for g, group in enumerate(groups):
        texts = [words[i].text for i in group]
        layout = fit(texts, size, band.w, band.h, font)
        group_end = words[groups[g + 1][0]].start if g + 1 < len(groups) else duration
        group_end = min(duration, max(group_end, words[group[-1]].end))
        if words[group[-1]].end + 0.6 < group_end:
            group_end = words[group[-1]].end + 0.6  # a long pause: let the screen clear
        for k, i in enumerate(group):
            start = words[i].start
            end = words[group[k + 1]].start if k + 1 < len(group) else group_end
            if end - start <= 0.0:
                continue
            image, box = render_block(layout, (band.w, band.h), highlight=k)
            frames.append(CaptionFrame(start, end, image, _placed(box, band), word=i))
    return CaptionTrack(band, _contiguous(frames, duration), "karaoke")


def sentence_track(
    lines: list[tuple[str, float, float]],
    width: int,
    height: int,
    duration: float,
    font: str | None,
) -> CaptionTrack:
    """Each line of the script on a card while it is spoken."""
    band = caption_band(width, height)
    size = max(10, round(min(width, height) * 0.06))
    frames: list[CaptionFrame] = []
    for text, start, end in lines:
        if end - start <= 0 or not text.strip():
            continue
        layout = fit(text.split(), size, band.w, band.h, font)
        image, box = render_block(layout, (band.w, band.h), card=True)
        frames.append(CaptionFrame(start, end, image, _placed(box, band)))
    return CaptionTrack(band, _contiguous(frames, duration), "sentence")


def _contiguous(frames: list[CaptionFrame], duration: float) -> list[CaptionFrame]:
    """The states in order, gaps filled with empty ones, covering [0, duration] exactly."""
    out: list[CaptionFrame] = []
    cursor = 0.0
    for frame in sorted(frames, key=lambda f: f.start):
        start = max(cursor, frame.start)
        end = min(duration, frame.end)
        if end - start < 0.02:
            continue
        if start - cursor >= 0.02:
            out.append(CaptionFrame(cursor, start, None, None))
        elif out:
            start = cursor  # close a hair-thin gap
        out.append(CaptionFrame(start, end, frame.image, frame.box, frame.word))
        cursor = end
    if duration - cursor > 0.001:
        out.append(CaptionFrame(cursor, duration, None, None))
    return out


def title_image(
    text: str, width: int, height: int, font: str | None
) -> tuple[Image.Image, Box] | None:
    """The title on a card at the top of the safe area (image the size of its box)."""
    if not text.strip():
        return None
    safe = safe_area(width, height)
    size = max(10, round(min(width, height) * 0.07))
    layout = fit(text.split(), size, safe.w, round(safe.h * 0.22), font)
    band = (safe.w, min(layout.height, round(safe.h * 0.22)))
    image, box = render_block(layout, band, card=True)
    cropped = image.crop((box.x, box.y, box.right, box.bottom))
    placed = Box(safe.x + box.x, safe.y + box.y, box.w, box.h)
    return cropped, placed
