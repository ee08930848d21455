// The site's icon, drawn here from four shapes: as SVG (/favicon.svg) and as a Windows icon (/favicon.ico, 16, 32
// and 48 px) for browsers that ask for /favicon.ico whatever the page links. Pure: shapes in, bytes out.

/** A patch bay: four jacks on the header's dark grey, one cable plugged across. Coordinates on a 32×32 grid. */
const BG = { color: '#24292f', radius: 6 };
const JACKS = [
  [9, 9],
  [23, 9],
  [9, 23],
  [23, 23],
] as const;
const JACK = { color: '#ffffff', radius: 3.75, width: 2.5 };
const CABLE = { color: '#f0883e', from: [9, 9], to: [23, 23], width: 3.5 } as const;

export function faviconSvg(): string {
  const jacks = JACKS.map(([x, y]) => `<circle cx="${x}" cy="${y}" r="${JACK.radius}" fill="none" stroke="${JACK.color}" stroke-width="${JACK.width}"/>`);
  return [
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32" width="32" height="32">',
    `<rect width="32" height="32" rx="${BG.radius}" fill="${BG.color}"/>`,
    ...jacks,
    `<line x1="${CABLE.from[0]}" y1="${CABLE.from[1]}" x2="${CABLE.to[0]}" y2="${CABLE.to[1]}" stroke="${CABLE.color}" stroke-width="${CABLE.width}" stroke-linecap="round"/>`,
    '</svg>',
    '',
  ].join('\n');
}

type Rgba = [number, number, number, number];
const rgb = (hex: string): Rgba => [parseInt(hex.slice(1, 3), 16), parseInt(hex.slice(3, 5), 16), parseInt(hex.slice(5, 7), 16), 255];

function insideRoundedSquare(x: number, y: number): boolean {
  if (x < 0 || y < 0 || x > 32 || y > 32) return false;
  const r = BG.radius;
  const cx = Math.min(Math.max(x, r), 32 - r);
  const cy = Math.min(Math.max(y, r), 32 - r);
  return (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
}

function segmentDistance(x: number, y: number): number {
  const [ax, ay] = CABLE.from;
  const [bx, by] = CABLE.to;
  const t = Math.max(0, Math.min(1, ((x - ax) * (bx - ax) + (y - ay) * (by - ay)) / ((bx - ax) ** 2 + (by - ay) ** 2)));
  return Math.hypot(x - (ax + t * (bx - ax)), y - (ay + t * (by - ay)));
}

/** The colour at a point of the 32×32 grid, shapes painted in the SVG's order (later on top). */
function paint(x: number, y: number): Rgba {
  let c: Rgba = [0, 0, 0, 0];
  if (insideRoundedSquare(x, y)) c = rgb(BG.color);
  if (JACKS.some(([jx, jy]) => Math.abs(Math.hypot(x - jx, y - jy) - JACK.radius) <= JACK.width / 2)) c = rgb(JACK.color);
  if (segmentDistance(x, y) <= CABLE.width / 2) c = rgb(CABLE.color);
  return c;
}

/** One size as 32-bit BGRA rows, bottom-up (the BMP order), each pixel the mean of 4×4 samples. */
function pixels(size: number): Buffer {
  const out = Buffer.alloc(size * size * 4);
  const n = 4;
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      const sum = [0, 0, 0, 0];
      for (let sy = 0; sy < n; sy++) {
        for (let sx = 0; sx < n; sx++) {
          const c = paint(((px + (sx + 0.5) / n) * 32) / size, ((py + (sy + 0.5) / n) * 32) / size);
          // Premultiplied while summing, so that transparent samples do not darken the edge.
          for (let i = 0; i < 3; i++) sum[i]! += c[i]! * c[3];
          sum[3]! += c[3];
        }
      }
      const a = sum[3]! / (n * n);
      const o = ((size - 1 - py) * size + px) * 4;
      const un = (v: number) => (sum[3]! ? Math.round(v / sum[3]!) : 0);
      out[o] = un(sum[2]!);
      out[o + 1] = un(sum[1]!);
      out[o + 2] = un(sum[0]!);
      out[o + 3] = Math.round(a);
    }
  }
  return out;
}

/** An ICO file (ICONDIR, one ICONDIRENTRY per size, then each image as a BMP without its file header). */
export function faviconIco(sizes: readonly number[] = [16, 32, 48]): Buffer {
  const images = sizes.map((size) => {
    const header = Buffer.alloc(40);
    header.writeUInt32LE(40, 0); // BITMAPINFOHEADER
    header.writeInt32LE(size, 4);
    header.writeInt32LE(size * 2, 8); // the colour rows and the AND mask's rows
    header.writeUInt16LE(1, 12);
    header.writeUInt16LE(32, 14);
    const maskRow = Math.ceil(size / 32) * 4;
    // The AND mask is all zero: with 32 bits per pixel the alpha channel decides.
    return Buffer.concat([header, pixels(size), Buffer.alloc(maskRow * size)]);
  });
  const dir = Buffer.alloc(6 + 16 * sizes.length);
  dir.writeUInt16LE(0, 0);
  dir.writeUInt16LE(1, 2); // 1 = icon
  dir.writeUInt16LE(sizes.length, 4);
  let offset = dir.length;
  sizes.forEach((size, i) => {
    const e = 6 + 16 * i;
    dir.writeUInt8(size >= 256 ? 0 : size, e);
    dir.writeUInt8(size >= 256 ? 0 : size, e + 1);
    dir.writeUInt16LE(1, e + 4); // colour planes
    dir.writeUInt16LE(32, e + 6); // bits per pixel
    dir.writeUInt32LE(images[i]!.length, e + 8);
    dir.writeUInt32LE(offset, e + 12);
    offset += images[i]!.length;
  });
  return Buffer.concat([dir, ...images]);
}
