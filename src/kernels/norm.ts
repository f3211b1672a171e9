/**
 * Layer normalization over the last dimension (PyTorch nn.LayerNorm(D), elementwise affine):
 * per row μ = mean(x), σ² = mean((x − μ)²) (biased), x̂ = (x − μ)/√(σ² + ε), y = γ·x̂ + β.
 * Sums run in float64 (JS numbers) whatever the array type.
 */
import type { FloatArray } from '../util/float.js';

/** x: [n, d] -> y, xhat: [n, d], rstd: [n] (1/√(σ² + ε), kept for backward). y may alias x. */
export function layerNormForward(x: FloatArray, y: FloatArray, xhat: FloatArray, rstd: FloatArray, gamma: FloatArray, beta: FloatArray, n: number, d: number, eps: number): void {
  for (let r = 0; r < n; r++) {
    const at = r * d;
    let sum = 0;
    for (let j = 0; j < d; j++) sum += x[at + j];
    const mean = sum / d;
    let sq = 0;
    for (let j = 0; j < d; j++) {
      const c = x[at + j] - mean;
      sq += c * c;
    }
    const inv = 1 / Math.sqrt(sq / d + eps);
    rstd[r] = inv;
    for (let j = 0; j < d; j++) {
      const h = (x[at + j] - mean) * inv;
      xhat[at + j] = h;
      y[at + j] = gamma[j] * h + beta[j];
    }
  }
}

/**
 * dγ += Σ dy·x̂, dβ += Σ dy over rows; dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) with g = dy·γ
 * (dx null: not needed). dy: [n, d]; dx may alias dy.
 */
export function layerNormBackward(dy: FloatArray, xhat: FloatArray, rstd: FloatArray, gamma: FloatArray, dx: FloatArray | null, dgamma: FloatArray, dbeta: FloatArray, n: number, d: number): void {
  for (let r = 0; r < n; r++) {
    const at = r * d;
    let sumG = 0;
    let sumGH = 0;
    for (let j = 0; j < d; j++) {
      const g = dy[at + j] * gamma[j];
      sumG += g;
      sumGH += g * xhat[at + j];
      dgamma[j] += dy[at + j] * xhat[at + j];
      dbeta[j] += dy[at + j];
    }
    if (dx === null) continue;
    const meanG = sumG / d;
    const meanGH = sumGH / d;
    const inv = rstd[r];
    for (let j = 0; j < d; j++) dx[at + j] = inv * (dy[at + j] * gamma[j] - meanG - xhat[at + j] * meanGH);
  }
}
