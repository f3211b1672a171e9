/**
 * A loss for people: four decimals where that shows it (0.0321, 2.2914), four significant digits
 * where it would not (a regression's 6.800e-13 is not "0.0000"; a diverging run's 2.063e+20 is not
 * twenty-one digits).
 */
export function formatLoss(value: number): string {
  const size = Math.abs(value);
  if (!Number.isFinite(value) || size === 0 || (size >= 1e-3 && size < 1e5)) return Number.isFinite(value) ? value.toFixed(4) : String(value);
  return value.toPrecision(4);
}
