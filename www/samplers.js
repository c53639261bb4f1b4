// What the page says about each sampler: title, formula and caption (which samplers apply to
// which model comes from the core: SAMPLERS_BY_MODEL in www/limits.js), and the colours that tie
// a sampler's grid, curves, bars and metrics row together.

import { SAMPLERS_BY_MODEL } from './limits.js';

export const SAMPLERS = {
  deterministic: {
    title: 'Eq. (2): the deterministic decoder',
    formula: 'z<sub>ℓ−1</sub> = ŷ(z<sub>ℓ</sub>, ℓ)',
    caption:
      'Each row starts from a different noise z<sub>L</sub>. <b>Quiz (a)–(b):</b> a perfect denoiser maps every z<sub>L</sub> to the mean image, so after one step all rows are (almost) the same picture and the diversity collapses. <b>Quiz (c):</b> the real network is not perfect; tiny differences survive and get amplified down the chain — look for rows that slowly drift apart.',
  },
  stochastic: {
    title: 'Stochastic sampler (current diffusion models)',
    formula: 'z<sub>ℓ−1</sub> = m(z<sub>ℓ</sub>, ŷ) + σ δ',
    caption:
      'The posterior mean plus fresh noise δ at every step (σ = √v by default, change it under Sampling). The injected noise keeps the rows different. With σ = 0 it becomes deterministic again — try it.',
  },
  ddim: {
    title: 'DDIM (η = 0): deterministic, not collapsing',
    formula: 'z<sub>ℓ−1</sub> = a<sup>ℓ−1</sup> ŷ + √(1 − a<sup>2(ℓ−1)</sup>) ε̂',
    caption:
      'Also deterministic, but it keeps the noise direction ε̂ = (z<sub>ℓ</sub> − a<sup>ℓ</sup> ŷ)/√(1 − a<sup>2ℓ</sup>) instead of throwing it away, so every z<sub>L</sub> leads to its own digit.',
  },
  cvae: {
    title: 'Progressive CVAE (Problem 2)',
    formula: 'z<sub>ℓ−1</sub> = z<sub>Φ</sub>(ε, z<sub>ℓ</sub>, ℓ) + σ<sub>Φ</sub> ⊙ δ,  ε ~ N(0, I)',
    caption:
      'Each step is a small conditional VAE with a latent ε of size k. With few levels (L = 2…8) the true step p(z<sub>ℓ−1</sub> | z<sub>ℓ</sub>) is far from Gaussian: a Gaussian step (the stochastic sampler) gives blurry or broken digits, the CVAE can still give sharp, diverse ones. The last step shows the mean z<sub>Φ</sub>.',
  },
};
export const SAMPLER_COLORS = { deterministic: '#d1495b', stochastic: '#2e86ab', ddim: '#3c9d5d', cvae: '#8e5cc4', real: '#555' };

/** A sampler's short name in tables and legends. */
export const samplerLabel = (n) => ({ deterministic: 'eq. (2)', ddim: 'DDIM', cvae: 'progressive CVAE' })[n] ?? n;

/**
 * The samplers shown: the model's (and a side-by-side model's), filtered by the `show` setting
 * (ignored when it would leave nothing).
 */
export function activeSamplers(model, companionModel, show) {
  let names = [...SAMPLERS_BY_MODEL[model]];
  if (companionModel) names = [...names, ...SAMPLERS_BY_MODEL[companionModel].filter((n) => !names.includes(n))];
  if (show && show.length) {
    const shown = names.filter((n) => show.includes(n));
    if (shown.length) names = shown;
  }
  return names;
}
