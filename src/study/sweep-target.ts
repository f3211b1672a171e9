/**
 * A sweep's target (--target METRIC=VALUE): the metric names a user may write, parsing and checking
 * them, and whether a record (an epoch end, a validation within an epoch, a Checkpoint) meets the
 * target: accuracies from above, losses from below.
 */
import { ConfigError, shown } from '../errors.js';

export type TargetMetric = 'valAccuracy' | 'valLoss' | 'trainAccuracy' | 'trainLoss';

export interface Target {
  metric: TargetMetric;
  value: number;
  /** As the user wrote it, e.g. "val_acc=0.95". */
  text: string;
}

/** The metric names --target accepts. */
export const TARGET_NAMES: Record<string, TargetMetric> = {
  val_acc: 'valAccuracy',
  val_accuracy: 'valAccuracy',
  val_loss: 'valLoss',
  train_acc: 'trainAccuracy',
  train_accuracy: 'trainAccuracy',
  train_loss: 'trainLoss',
};

/** `val_acc=0.95`, `train_loss=0.1`, `val_loss=..`, `train_acc=..` (ConfigError naming --target). */
export function parseTarget(text: string): Target {
  const match = /^\s*([a-z_]+)\s*=\s*(\S+)\s*$/.exec(String(text));
  const metric = match ? TARGET_NAMES[match[1]] : undefined;
  if (!match || !metric) {
    throw new ConfigError('badOption', `--target must be METRIC=VALUE with METRIC one of val_acc, val_loss, train_loss, train_acc, e.g. val_acc=0.95 (got ${shown(text)})`);
  }
  const value = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(match[2]) ? Number(match[2]) : Number.NaN;
  const isAccuracy = metric.endsWith('Accuracy');
  if (!Number.isFinite(value) || (isAccuracy ? !(value > 0 && value <= 1) : !(value > 0))) {
    throw new ConfigError('badOption', `--target ${match[1]} must be ${isAccuracy ? 'an accuracy in (0, 1]' : 'a loss > 0'} (got ${shown(match[2])})`);
  }
  return { metric, value, text: `${match[1]}=${match[2]}` };
}

/**
 * Whether a record meets the target (accuracies from above, losses from below): an epoch record,
 * an eval record (validation metrics only) or a Checkpoint.
 */
export function meetsTarget(record: Partial<Record<TargetMetric, number | null>>, target: Target): boolean {
  const value = record[target.metric];
  if (value === null || value === undefined || !Number.isFinite(value)) return false;
  return target.metric.endsWith('Accuracy') ? value >= target.value : value <= target.value;
}
