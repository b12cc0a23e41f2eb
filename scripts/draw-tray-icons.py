#!/usr/bin/env python3
"""Draws QCity's icons into icons/ (stdlib only: zlib + struct): the tray's, the app icon of
the Tauri bundle, and the dashboard's favicon (the 32-pixel app icon).

One icon per overall state, a filled disc with a glyph, anti-aliased by 4x4 supersampling:
green + check mark, amber + exclamation, red + cross, grey + pause bars (all stopped or
paused), and a pale disc with a dark slash for "engine not running", so the two greys are
never confused. The disc has a darker rim so it reads on light and dark panels alike, and
the glyph is white on the saturated colours. Sizes: 22 (the panel size of GNOME/KDE at
100 %), 32, 44 (200 %).

The app icon (the bundle's, the window's and the dashboard's favicon) is not a state: a blue
rounded square with a white Q, at 32, 128, 256 and 512 pixels. Run again after a change; the
PNGs are committed.
"""
import math
import os
import struct
import zlib

COLOURS = {
    "green": ((46, 160, 67), (25, 105, 40)),
    "amber": ((219, 143, 0), (150, 95, 0)),
    "red": ((207, 34, 46), (140, 20, 28)),
    "grey": ((128, 134, 140), (85, 90, 95)),
    "down": ((214, 216, 218), (110, 114, 118)),
}
# The glyph's colour: white on the saturated discs, dark on the pale one.
GLYPH = {"down": (85, 90, 95)}
APP_BLUE = (26, 95, 180)


def seg_dist(px, py, ax, ay, bx, by):
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


def glyph(state, x, y):
    """Whether the unit-square point (x, y) is on the state's glyph."""
    w = 0.085
    if state == "green":
        return seg_dist(x, y, 0.28, 0.52, 0.44, 0.68) < w or seg_dist(x, y, 0.44, 0.68, 0.73, 0.34) < w
    if state == "amber":
        return seg_dist(x, y, 0.5, 0.24, 0.5, 0.56) < w or math.hypot(x - 0.5, y - 0.74) < w * 1.1
    if state == "red":
        return seg_dist(x, y, 0.32, 0.32, 0.68, 0.68) < w or seg_dist(x, y, 0.68, 0.32, 0.32, 0.68) < w
    if state == "down":
        return seg_dist(x, y, 0.3, 0.7, 0.7, 0.3) < w
    return (0.33 < x < 0.45 or 0.55 < x < 0.67) and 0.3 < y < 0.7


def draw(state, size):
    fill, rim = COLOURS[state]
    rows = []
    n = 4
    for py in range(size):
        row = bytearray([0])
        for px in range(size):
            acc = [0.0, 0.0, 0.0, 0.0]
            for sy in range(n):
                for sx in range(n):
                    x = (px + (sx + 0.5) / n) / size
                    y = (py + (sy + 0.5) / n) / size
                    r = math.hypot(x - 0.5, y - 0.5)
                    if r > 0.47:
                        continue
                    if glyph(state, x, y):
                        c = GLYPH.get(state, (255, 255, 255))
                    elif r > 0.47 - max(0.06, 1.2 / size):
                        c = rim
                    else:
                        c = fill
                    acc[0] += c[0]
                    acc[1] += c[1]
                    acc[2] += c[2]
                    acc[3] += 1
            a = acc[3] / (n * n)
            if acc[3]:
                row += bytes([round(acc[0] / acc[3]), round(acc[1] / acc[3]), round(acc[2] / acc[3]), round(255 * a)])
            else:
                row += bytes([0, 0, 0, 0])
        rows.append(bytes(row))
    return png(size, rows)


def draw_app(size):
    """A blue rounded square with a white Q (a ring and its tail), 4x4 supersampled."""
    rows = []
    n = 4
    for py in range(size):
        row = bytearray([0])
        for px in range(size):
            acc, cover = [0.0, 0.0, 0.0], 0
            for sy in range(n):
                for sx in range(n):
                    x = (px + (sx + 0.5) / n) / size
                    y = (py + (sy + 0.5) / n) / size
                    # Rounded square: inside the 0.06..0.94 box with corners of radius 0.2.
                    cx, cy = min(max(x, 0.26), 0.74), min(max(y, 0.26), 0.74)
                    if math.hypot(x - cx, y - cy) > 0.2:
                        continue
                    ring = abs(math.hypot(x - 0.48, y - 0.47) - 0.22) < 0.065
                    tail = seg_dist(x, y, 0.56, 0.58, 0.74, 0.76) < 0.065
                    c = (255, 255, 255) if ring or tail else APP_BLUE
                    acc = [acc[0] + c[0], acc[1] + c[1], acc[2] + c[2]]
                    cover += 1
            if cover:
                row += bytes([round(acc[0] / cover), round(acc[1] / cover), round(acc[2] / cover), round(255 * cover / (n * n))])
            else:
                row += bytes([0, 0, 0, 0])
        rows.append(bytes(row))
    return png(size, rows)


def png(size, rows):
    raw = b"".join(rows)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def main():
    out = os.path.join(os.path.dirname(__file__), "..", "icons")
    os.makedirs(out, exist_ok=True)
    for state in COLOURS:
        for size in (22, 32, 44):
            with open(os.path.join(out, f"tray-{state}-{size}.png"), "wb") as f:
                f.write(draw(state, size))
    for name, size in (("32x32", 32), ("128x128", 128), ("128x128@2x", 256), ("icon", 512)):
        with open(os.path.join(out, f"{name}.png"), "wb") as f:
            f.write(draw_app(size))


if __name__ == "__main__":
    main()
