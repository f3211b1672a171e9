/**
 * Hostfiles: which hosts run a `dptrain worker` and with how many threads (slots).
 *
 *     # name-or-address  slots
 *     gpu-a      4
 *     10.0.0.12  slots=2     # the MPI / Horovod spelling works too
 *     alice@box  1          # ssh user@host; the worker is named "box"
 *     lone                  # no count: 1 slot
 *
 * One host per line, `#` starts a comment, blank lines are ignored. A host appears once.
 * `--hosts a:2,b:4` (Horovod's `-H`) is the same list on the command line.
 *
 * Plain ESM with no dependencies, so that cluster/ runs without a build.
 */
import fs from 'node:fs';

/** Most threads one host may ask for; far above any core count, low enough to catch typos. */
export const MAX_SLOTS = 4096;

/** A host's name as dptrain's worker names allow (transport NAME_PATTERN): the `--name` we pass. */
const WORKER_NAME = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$/;
/** `[user@]host`: a DNS name or IPv4 address, a bare IPv6 address, or one in brackets. */
const HOST = /^(?:([A-Za-z0-9_][A-Za-z0-9._-]*)@)?([A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f]*:[0-9A-Fa-f:.]+)$/;

/** A problem in a hostfile; `code` is stable, `line` is 1-based (undefined for whole-file problems). */
export class HostfileError extends Error {
  /**
   * @param {string} code  `dptrain.cluster.<problem>`
   * @param {string} message
   * @param {{ file?: string, line?: number }} [where]
   */
  constructor(code, message, where = {}) {
    super(message);
    this.name = 'HostfileError';
    this.code = code;
    this.file = where.file;
    this.line = where.line;
  }
}

function where(file, line) {
  return line === undefined ? file : `${file}:${line}`;
}

/**
 * Checks one host entry and returns it normalised.
 * @returns {{ host: string, user: string | undefined, name: string, slots: number, line: number | undefined }}
 */
function entry(hostToken, slotsToken, file, line) {
  const at = where(file, line);
  if (hostToken.startsWith('-')) {
    // ssh would read it as an option: refuse rather than pass it on.
    throw new HostfileError('dptrain.cluster.badHost', `${at}: host "${hostToken}" must not start with "-"`, { file, line });
  }
  const match = HOST.exec(hostToken);
  if (!match) {
    throw new HostfileError('dptrain.cluster.badHost', `${at}: "${hostToken}" is not a host name or address (expected [user@]host)`, { file, line });
  }
  const user = match[1];
  // ssh takes an IPv6 address bare ([fd00::5] would be looked up as a name, brackets and all).
  const host = match[2].replace(/^\[|\]$/g, '');
  // A worker name starts with a letter or digit: ::1 is named by its equal form 0::1.
  const name = host.startsWith(':') ? `0${host}` : host;
  if (!WORKER_NAME.test(name)) {
    throw new HostfileError('dptrain.cluster.badHost', `${at}: host "${name}" cannot be a worker name (at most 64 letters, digits and . _ : @ -)`, { file, line });
  }
  let slots = 1;
  if (slotsToken !== undefined) {
    const digits = slotsToken.startsWith('slots=') ? slotsToken.slice('slots='.length) : slotsToken;
    slots = /^[0-9]+$/.test(digits) ? Number(digits) : NaN;
    if (!Number.isInteger(slots) || slots < 1 || slots > MAX_SLOTS) {
      throw new HostfileError(
        'dptrain.cluster.badSlots',
        `${at}: bad slot count "${slotsToken}" for host "${hostToken}" (must be an integer from 1 to ${MAX_SLOTS})`,
        { file, line },
      );
    }
  }
  return { host: user ? `${user}@${host}` : host, user, name, slots, line };
}

/** Refuses a second entry for the same host (compared by name, case-insensitively). */
function checkDuplicates(hosts, file) {
  const seen = new Map();
  for (const h of hosts) {
    const key = h.name.toLowerCase();
    const first = seen.get(key);
    if (first) {
      const firstAt = first.line === undefined ? '' : ` (first on line ${first.line})`;
      throw new HostfileError('dptrain.cluster.duplicateHost', `${where(file, h.line)}: duplicate host "${h.name}"${firstAt}`, {
        file,
        line: h.line,
      });
    }
    seen.set(key, h);
  }
}

/**
 * Parses hostfile text.
 * @param {string} text
 * @param {string} [file] a name for messages
 * @returns {{ host: string, user: string | undefined, name: string, slots: number, line: number }[]}
 * @throws {HostfileError} badHost, badSlots, badLine, duplicateHost, emptyHostfile
 */
export function parseHostfile(text, file = 'hostfile') {
  const hosts = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = index + 1;
    const content = raw.replace(/#.*$/, '').trim();
    if (content === '') return;
    const tokens = content.split(/\s+/);
    if (tokens.length > 2) {
      throw new HostfileError('dptrain.cluster.badLine', `${where(file, line)}: expected "host slots", got "${content}"`, { file, line });
    }
    hosts.push(entry(tokens[0], tokens[1], file, line));
  });
  if (hosts.length === 0) {
    throw new HostfileError('dptrain.cluster.emptyHostfile', `${file}: no hosts (the file is empty or has only comments); write one "host slots" per line`, { file });
  }
  checkDuplicates(hosts, file);
  return hosts;
}

/**
 * Reads and parses a hostfile.
 * @param {string} file
 * @throws {HostfileError} as parseHostfile, or unreadable
 */
export function readHostfile(file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new HostfileError('dptrain.cluster.unreadable', `hostfile "${file}" cannot be read (${error.code ?? error.message})`, { file });
  }
  return parseHostfile(text, file);
}

/**
 * Parses Horovod's `-H` form: `host[:slots],host[:slots],...` (bracket IPv6 addresses: `[::1]:2`).
 * @param {string} list
 */
export function parseHostList(list) {
  const items = list.split(',').map((s) => s.trim());
  if (items.every((s) => s === '')) {
    throw new HostfileError('dptrain.cluster.emptyHostfile', '--hosts: no hosts given (expected host:slots,host:slots,...)');
  }
  const hosts = items.map((item, index) => {
    if (item === '') throw new HostfileError('dptrain.cluster.badLine', `--hosts item ${index + 1} is empty`);
    const m = /^(.*?)(?::([^:\]]*))?$/.exec(item);
    // A bare IPv6 address has several colons and no slots: take it whole.
    const bareIpv6 = !item.startsWith('[') && (item.match(/:/g) ?? []).length > 1;
    const [hostToken, slotsToken] = bareIpv6 ? [item, undefined] : [m[1], m[2]];
    try {
      return entry(hostToken, slotsToken, '--hosts', undefined);
    } catch (error) {
      error.message = error.message.replace(/^--hosts: /, `--hosts item ${index + 1}: `);
      throw error;
    }
  });
  checkDuplicates(hosts, '--hosts');
  return hosts;
}
