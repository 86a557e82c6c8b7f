"""Small but real files for the demo: PNG photos of pallets and labels, PDF certificates.

Drawn in code (zlib and struct, nothing else), different for every seed, so each lot's photos
have hashes of their own and open in any image viewer or PDF reader.
"""

from __future__ import annotations

import random
import struct
import zlib

Colour = tuple[int, int, int]

KRAFT: Colour = (184, 146, 98)
PALLET_WOOD: Colour = (139, 101, 62)
FLOOR: Colour = (112, 118, 124)
SAFETY_YELLOW: Colour = (226, 188, 40)
LABEL_WHITE: Colour = (246, 246, 240)
INK: Colour = (30, 32, 36)


class Canvas:
    def __init__(self, width: int, height: int, background: Colour) -> None:
        self.width = width
        self.height = height
        self.rows = [bytearray(bytes(background) * width) for _ in range(height)]

    def rect(self, x0: int, y0: int, x1: int, y1: int, colour: Colour) -> None:
        x0, x1 = max(0, x0), min(self.width, x1)
        if x0 >= x1:
            return
        run = bytes(colour) * (x1 - x0)
        for y in range(max(0, y0), min(self.height, y1)):
            self.rows[y][x0 * 3 : x1 * 3] = run

    def png(self) -> bytes:
        raw = b"".join(b"\x00" + bytes(row) for row in self.rows)
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(raw, 9))
            + _chunk(b"IEND", b"")
        )


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def _shade(colour: Colour, delta: int) -> Colour:
    red, green, blue = (max(0, min(255, part + delta)) for part in colour)
    return red, green, blue


def pallet_photo(seed: int, band: Colour, *, width: int = 160, height: int = 120) -> bytes:
    """Stacks of cartons on pallets in a frosty cold room; ``band`` is the colour of the cartons'
    printed band (one per commodity), ``seed`` varies the stacks."""
    rng = random.Random(seed)
    canvas = Canvas(width, height, (196, 208, 220))
    for y in range(0, height * 3 // 4, 6):  # the wall darkens towards the floor
        canvas.rect(0, y, width, y + 6, _shade((206, 216, 228), -y // 3))
    floor_top = height * 3 // 4
    canvas.rect(0, floor_top, width, height, FLOOR)
    canvas.rect(0, floor_top + 6, width, floor_top + 8, SAFETY_YELLOW)
    x = rng.randint(4, 12)
    while x < width - 24:
        stack_width = rng.randint(22, 30)
        layers = rng.randint(4, 7)
        carton_height = 8
        base = floor_top + rng.randint(2, 8)
        canvas.rect(x, base - 4, x + stack_width, base, PALLET_WOOD)
        for layer in range(layers):
            top = base - 4 - (layer + 1) * carton_height
            canvas.rect(x, top, x + stack_width, top + carton_height, _shade(KRAFT, rng.randint(-10, 6)))
            canvas.rect(x, top + 3, x + stack_width, top + 5, band)
            canvas.rect(x, top + carton_height - 1, x + stack_width, top + carton_height, _shade(KRAFT, -40))
            middle = x + stack_width // 2
            canvas.rect(middle, top, middle + 1, top + carton_height, _shade(KRAFT, -40))
        x += stack_width + rng.randint(3, 9)
    return canvas.png()


def label_photo(seed: int, band: Colour, *, width: int = 120, height: int = 90) -> bytes:
    """A close-up of a carton's label: a printed band, text lines and a barcode."""
    rng = random.Random(seed)
    canvas = Canvas(width, height, KRAFT)
    canvas.rect(10, 10, width - 10, height - 10, LABEL_WHITE)
    canvas.rect(10, 10, width - 10, 22, band)
    for line in range(3):
        top = 28 + line * 8
        canvas.rect(16, top, 16 + rng.randint(40, width - 40), top + 3, INK)
    x = 16
    while x < width - 18:
        bar = rng.choice((1, 1, 2, 3))
        canvas.rect(x, height - 34, x + bar, height - 16, INK)
        x += bar + rng.choice((1, 2, 2, 3))
    return canvas.png()


def certificate_pdf(title: str, lines: list[str]) -> bytes:
    """A one-page A4 PDF with a title and lines of text (ASCII, Helvetica)."""
    text = [f"BT /F1 16 Tf 56 780 Td ({_pdf_text(title)}) Tj ET"]
    for number, line in enumerate(lines):
        text.append(f"BT /F1 11 Tf 56 {740 - 18 * number} Td ({_pdf_text(line)}) Tj ET")
    content = "\n".join(text).encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
    ]
    document = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(document))
        document += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(document)
    document += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    document += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    document += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(document)


def _pdf_text(value: str) -> str:
    ascii_only = value.encode("ascii", "replace").decode("ascii")
    return ascii_only.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
