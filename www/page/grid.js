// Sample grids: a chain z_L ... z_0 per row, one canvas per grid, drawn with putImageData from one
// readback (pixels in [-1, 1], level-major as the core returns them). Small images are shown
// enlarged (nearest neighbour) so that each one takes at least MIN_IMAGE_PX screen pixels.

import { levelLabel } from './format.js';

const GAP = 2;
const CELL_BG = 255;
/** The smallest side, in screen (CSS) pixels, an image of a grid is shown at (8×8 data: ×4). */
export const MIN_IMAGE_PX = 28;

/** Screen pixels per image pixel: `scale`, or more for images smaller than MIN_IMAGE_PX. */
export const gridScale = (scale, h, w) => Math.max(scale, Math.ceil(MIN_IMAGE_PX / Math.min(h, w)));

/**
 * `el` scrolls sideways on a narrow screen (a wide grid, the metrics table): while it does, it is
 * a Tab stop, so the keyboard can scroll it too (WCAG: scrollable regions are focusable).
 */
export function keyboardScrollable(el) {
  const check = () => {
    if (el.scrollWidth > el.clientWidth + 1) el.setAttribute('tabindex', '0');
    else el.removeAttribute('tabindex');
  };
  new ResizeObserver(check).observe(el);
  return check;
}

export class ChainGrid {
  constructor(container, { forward = false, scale = 3 } = {}) {
    this.forward = forward;
    this.scale = scale;
    this.wrap = document.createElement('div');
    this.wrap.className = 'grid-wrap';
    this.header = document.createElement('div');
    this.header.className = 'grid-header';
    this.header.setAttribute('aria-hidden', 'true'); // the canvas's label names the levels
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'pixel';
    this.canvas.width = 1;
    this.canvas.height = 1;
    this.canvas.setAttribute('role', 'img');
    this.canvas.setAttribute('aria-label', 'not drawn yet');
    this.wrap.append(this.header, this.canvas);
    container.replaceChildren(this.wrap);
    this.scrollCheck = keyboardScrollable(container);
    this.ctx = this.canvas.getContext('2d', { willReadFrequently: true });
    this.levelsKey = '';
    this.image = null;
    // Column labels that would not fit their column: every other one is shown.
    new ResizeObserver(() => this.fitLabels()).observe(this.header);
  }

  /** The canvas's text alternative: what it shows and the figure it carries. */
  setLabel(text) {
    this.canvas.setAttribute('aria-label', text);
  }

  /**
   * `onlyLast`: one row of every chain's end. `at`: the grid rows (of `of` rows in all; with
   * `onlyLast`, the columns) the chain's rows replace, the others staying as drawn (a lighter
   * redraw; a grid of another shape is drawn anew, blank where nothing was drawn yet).
   */
  draw(chain, { onlyLast = false, at = null, of = chain.n } = {}) {
    const { n, h, w, pixels } = chain;
    const all = chain.levels;
    const total = at ? of : n;
    const slots = at || [...Array(n).keys()];
    const levelIdx = onlyLast ? [all.length - 1] : all.map((_, i) => i);
    const cols = onlyLast ? total : levelIdx.length;
    const rows = onlyLast ? 1 : total;
    const cw = w + GAP;
    const ch = h + GAP;
    const W = cols * cw;
    const H = rows * ch;
    const scale = gridScale(this.scale, h, w);
    const key = `${onlyLast ? `last:${total}` : all.join(',')}/${h}x${w}`;
    const fresh = !at || key !== this.levelsKey || !this.image || this.image.width !== W || this.image.height !== H;
    if (this.canvas.width !== W || this.canvas.height !== H) {
      this.canvas.width = W;
      this.canvas.height = H;
    }
    // The displayed width: `scale` screen pixels per image pixel, narrower only on a narrow screen
    // (never below MIN_IMAGE_PX per image: the grid scrolls inside its panel then).
    this.wrap.style.width = `min(100%, ${W * scale}px)`;
    this.wrap.style.minWidth = `${Math.ceil((MIN_IMAGE_PX * W) / w)}px`;
    if (key !== this.levelsKey) {
      this.levelsKey = key;
      this.header.style.gridTemplateColumns = `repeat(${cols}, minmax(0, 1fr))`;
      this.header.innerHTML = onlyLast ? '' : all.map((l) => `<span>${levelLabel(l, this.forward)}</span>`).join('');
      this.header.hidden = onlyLast;
      this.fitLabels();
    }
    if (fresh) this.image = new ImageData(new Uint8ClampedArray(W * H * 4).fill(CELL_BG), W, H);
    const d = this.image.data;
    const dim = h * w;
    for (let c = 0; c < levelIdx.length; c++) {
      const li = levelIdx[c];
      for (let s = 0; s < n; s++) {
        const src = (li * n + s) * dim;
        const col = onlyLast ? slots[s] : c;
        const row = onlyLast ? 0 : slots[s];
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
    this.ctx.putImageData(this.image, 0, 0);
    this.scrollCheck();
  }

  /** Every other column label when one does not fit its column (a narrow screen, many levels). */
  fitLabels() {
    const spans = this.header.children;
    this.header.classList.remove('sparse');
    for (const s of spans) {
      if (s.scrollWidth > s.clientWidth + 0.5) {
        this.header.classList.add('sparse');
        return;
      }
    }
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
