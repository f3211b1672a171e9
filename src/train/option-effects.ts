/**
 * The one rule for options, for every entry point (train, sweep, coordinator, the library):
 * a default never conflicts with an option the caller set, and an option the caller set that has
 * no effect in this run is warned about once (not an error). docs/cli.md "Defaults and explicit
 * options" lists the rules.
 *
 * "Set" means given: a flag typed on the command line (commander's option value source), or a
 * key present with a value other than undefined in the library's options object.
 */

/** The keys of `options` the caller set: present, with a value other than undefined. */
export function givenKeys(options: object): Set<string> {
  return new Set(Object.entries(options).flatMap(([key, value]) => (value === undefined ? [] : [key])));
}

/** "Option X has no effect when Y": one row of a rule table. */
export interface NoEffectRule<C> {
  option: keyof C & string;
  /** Why the option has no effect in `config` (e.g. "it applies to --lr-schedule step"), or null when it has one. */
  inert(config: C): string | null;
  /**
   * The part of the run the option has no effect on, when it still has one elsewhere (e.g. "training
   * steps" for --micro-batch with BatchNorm, which validation still uses); absent or null: none at all.
   */
  scope?(config: C): string | null;
}

/** A warning about an option that was given but has no effect. */
export interface OptionWarning {
  option: string;
  /** The flag as typed, e.g. `--gamma`. */
  flag: string;
  value: unknown;
  reason: string;
  message: string;
}

/**
 * The given options that have no effect in `config`, one warning each (in table order). A given
 * value equal to the option's default is left alone: it asks for nothing the run does not do.
 */
export function inertOptions<C>(
  rules: readonly NoEffectRule<C>[],
  config: C,
  given: ReadonlySet<string>,
  defaultOf: (option: keyof C & string) => unknown,
  flagOf: (option: string) => string,
): OptionWarning[] {
  const warnings: OptionWarning[] = [];
  const warned = new Set<string>();
  for (const rule of rules) {
    if (!given.has(rule.option) || warned.has(rule.option)) continue;
    const value = config[rule.option];
    if (sameValue(value, defaultOf(rule.option))) continue;
    const reason = rule.inert(config);
    if (reason === null) continue;
    warned.add(rule.option);
    const flag = flagOf(rule.option);
    const shownValue = typeof value === 'boolean' ? '' : ` ${String(value)}`;
    const scope = rule.scope?.(config) ?? null;
    const effect = scope === null ? 'has no effect and is ignored' : `has no effect on ${scope}`;
    warnings.push({ option: rule.option, flag, value, reason, message: `${flag}${shownValue} ${effect}: ${reason}` });
  }
  return warnings;
}

/** The marker on the log fields of an OptionWarning, so a caller that already warned can drop repeats. */
export const OPTION_WARNING = 'optionHasNoEffect';

/** A logger's fields for an OptionWarning. */
export function warningFields(warning: OptionWarning): Record<string, unknown> {
  return { warning: OPTION_WARNING, option: warning.flag, value: warning.value, reason: warning.reason };
}

/** True for the fields warningFields made. */
export function isOptionWarning(fields: object): boolean {
  return (fields as { warning?: unknown }).warning === OPTION_WARNING;
}

function sameValue(a: unknown, b: unknown): boolean {
  return a === b || (typeof a === 'number' && typeof b === 'number' && Number.isNaN(a) && Number.isNaN(b));
}
