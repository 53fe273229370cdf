"""Regenerates the README's pictures from the command-line tool's built-in demo.

    make demo && .venv-make/bin/python docs/make_images.py

- docs/demo.png: image | heatmap | overlay | mask | outline with the boxes of
  demo_boxes.json drawn on it, as written by ``anomaly-postprocess`` (the demo).
- docs/colormaps.png: the demo heatmap in a few colormaps (``--colormap``).

Needs the ``cli`` extra (Pillow; ``make demo`` installs it). Everything is rendered by
the CLI into a temporary directory, then laid out side by side with a caption under
each panel.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from anomaly_postprocess.cli import main

DOCS = Path(__file__).resolve().parent
GAP = 10  # white pixels between panels
CAPTION_HEIGHT = 22
BOX_COLOR = (255, 214, 0)  # the boxes, over the red outline
COLORMAPS = ("jet", "turbo", "viridis", "inferno")


def run(argv: list[str]) -> None:
    status = main([*argv, "-q"])
    if status != 0:
        sys.exit(f"anomaly-postprocess {' '.join(argv)} failed with status {status}")


def outline_with_boxes(out: Path) -> Image.Image:
    """demo_outline.png with the rectangles of demo_boxes.json (inclusive corners)."""
    picture = Image.open(out / "demo_outline.png").convert("RGB")
    draw = ImageDraw.Draw(picture)
    document = json.loads((out / "demo_boxes.json").read_text(encoding="utf-8"))
    for box in document["boxes"]:
        draw.rectangle((box["x1"], box["y1"], box["x2"], box["y2"]), outline=BOX_COLOR)
    return picture


def strip(panels: list[tuple[str, Image.Image]]) -> Image.Image:
    """The panels side by side on white, each with its caption centred under it."""
    width = sum(panel.width for _, panel in panels) + GAP * (len(panels) - 1)
    height = max(panel.height for _, panel in panels) + CAPTION_HEIGHT
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=15)
    x = 0
    for caption, panel in panels:
        sheet.paste(panel.convert("RGB"), (x, 0))
        draw.text(
            (x + panel.width / 2, panel.height + CAPTION_HEIGHT / 2),
            caption,
            fill=(40, 40, 40),
            font=font,
            anchor="mm",
        )
        x += panel.width + GAP
    return sheet


def save(picture: Image.Image, path: Path) -> None:
    picture.save(path, format="PNG", optimize=True)
    print(f"{path}: {picture.width}x{picture.height}, {path.stat().st_size // 1024} KiB")


def make() -> None:
    with tempfile.TemporaryDirectory() as temp:
        out = Path(temp)
        run(["-o", str(out)])  # the demo: image, map and every output
        demo = strip(
            [
                ("image", Image.open(out / "demo.png")),
                ("heatmap", Image.open(out / "demo_heatmap.png")),
                ("overlay", Image.open(out / "demo_overlay.png")),
                ("mask", Image.open(out / "demo_mask.png")),
                ("outline + boxes", outline_with_boxes(out)),
            ]
        )
        save(demo, DOCS / "demo.png")

        panels = []
        for name in COLORMAPS:
            run([str(out / "demo.npy"), "--colormap", name, "-o", str(out / name)])
            panels.append((name, Image.open(out / name / "demo_heatmap.png")))
        save(strip(panels), DOCS / "colormaps.png")


if __name__ == "__main__":
    make()
