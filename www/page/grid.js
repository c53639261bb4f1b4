// Sample grids: a chain z_L ... z_0 per row, one canvas per grid, drawn with putImageData from one
// readback (pixels in [-1, 1], level-major as the core returns them).

import { levelLabel } from './format.js';

const GAP = 2;
const CELL_BG = [255, 255, 255];

export class ChainGrid {
  constructor(container, { forward = false, scale = 3 } = {}) {
    this.forward = forward;
    this.scale = scale;
    this.wrap = document.createElement('div');
    this.wrap.className = 'grid-wrap';
    this.header = document.createElement('div');
    this.header.className = 'grid-header';
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'pixel';
    this.canvas.width = 1;
    this.canvas.height = 1;
    this.wrap.append(this.header, this.canvas);
    container.replaceChildren(this.wrap);
    this.ctx = this.canvas.getContext('2d', { willReadFrequently: true });
    this.levelsKey = '';
  }

  /**
   * `onlyLast`: one row of every chain's end. `firstRows`: the chain's rows replace the grid's
   * first rows and the others stay as drawn (a lighter redraw; a grid of another shape is drawn
   * anew).
   */
  draw(chain, { onlyLast = false, firstRows = false } = {}) {
    const { n, h, w, pixels } = chain;
    const all = chain.levels;
    const levelIdx = onlyLast ? [all.length - 1] : all.map((_, i) => i);
    const cols = onlyLast ? n : levelIdx.length;
    const rows = onlyLast ? 1 : n;
    const cw = w + GAP;
    const ch = h + GAP;
    const W = cols * cw;
    const H = rows * ch;
    const keepBelow = firstRows && this.canvas.width === W && this.canvas.height > H;
    if (!keepBelow && (this.canvas.width !== W || this.canvas.height !== H)) {
      this.canvas.width = W;
      this.canvas.height = H;
    }
    this.wrap.style.width = `min(100%, ${W * this.scale}px)`;
    const key = onlyLast ? `last:${n}` : all.join(',');
    if (key !== this.levelsKey) {
      this.levelsKey = key;
      this.header.style.gridTemplateColumns = `repeat(${cols}, 1fr)`;
      this.header.innerHTML = onlyLast ? '' : all.map((l) => `<span>${levelLabel(l, this.forward)}</span>`).join('');
      this.header.hidden = onlyLast;
    }
    const img = this.ctx.createImageData(W, H);
    const d = img.data;
    for (let i = 0; i < d.length; i += 4) {
      d[i] = CELL_BG[0];
      d[i + 1] = CELL_BG[1];
      d[i + 2] = CELL_BG[2];
      d[i + 3] = 255;
    }
    const dim = h * w;
    for (let c = 0; c < levelIdx.length; c++) {
      const li = levelIdx[c];
      for (let s = 0; s < n; s++) {
        const src = (li * n + s) * dim;
        const col = onlyLast ? s : c;
        const row = onlyLast ? 0 : s;
        const x0 = col * cw + GAP / 2;
        const y0 = row * ch + GAP / 2;
        for (let y = 0; y < h; y++) {
          let o = ((y0 + y) * W + x0) * 4;
          const base = src + y * w;
          for (let x = 0; x < w; x++, o += 4) {
            let v = (pixels[base + x] + 1) * 127.5;
            v = v < 0 ? 0 : v > 255 ? 255 : v;
            d[o] = d[o + 1] = d[o + 2] = v;
          }
        }
      }
    }
    this.ctx.putImageData(img, 0, 0);
  }
}

/** One image (pixels in [-1, 1]) on a canvas of its own size. */
export function drawImage(canvas, pixels, h, w) {
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(w, h);
  for (let i = 0; i < h * w; i++) {
    const v = Math.max(0, Math.min(255, (pixels[i] + 1) * 127.5));
    img.data[i * 4] = img.data[i * 4 + 1] = img.data[i * 4 + 2] = v;
    img.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}
