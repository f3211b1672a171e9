/**
 * `dptrain token [--out FILE] [--force]`: a fresh shared secret for `--token-file`, 256 bits from
 * crypto.randomBytes as 64 hex digits. With --out it is written readable by its owner only (0600,
 * as ssh-keygen writes a private key), never over an existing file unless --force.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../errors.js';
import { outputFileProblem } from '../io/output-dir.js';
import { generateToken } from '../transport/auth.js';
import { TransportError } from '../transport/errors.js';

/** Adds `dptrain token` to the program. */
export function registerTokenCommand(program: Command): Command {
  return program
    .command('token')
    .description('make a shared secret for --token-file (256 random bits, written with mode 600)')
    .option('--out <file>', 'write the token to this file (mode 600) instead of printing it')
    .option('--force', 'replace an existing --out file')
    .exitOverride()
    .action((options: { out?: string; force?: boolean }) => runToken(options));
}

/** Prints a fresh token, or writes it to `options.out` (mode 0600; an existing file only with `force`). */
export function runToken(options: { out?: string; force?: boolean }): void {
  const out = options.out;
  if (out !== undefined && out.trim() === '') throw new ConfigError('badOption', '--out must be a file name, e.g. --out dptrain.token (got "")');
  const problem = out === undefined ? null : outputFileProblem(out);
  if (problem !== null) throw new ConfigError('badOption', `--out ${out}: ${problem}`);
  const token = generateToken();
  if (out === undefined) {
    process.stdout.write(token);
    return;
  }
  writeTokenFile(out, token, options.force === true);
  process.stdout.write(`wrote a 256-bit token to ${out} (mode 600); copy it to every host and pass --token-file ${out}\n`);
}

/**
 * Creates `file` with mode 0600 holding `token`. With `force`, an existing file is replaced by a
 * rename, so it never exists with the new token under the old file's permissions.
 */
function writeTokenFile(file: string, token: string, force: boolean): void {
  if (!force && fs.existsSync(file)) {
    throw new ConfigError('tokenFileExists', `--out ${file} already exists; pass --force to replace it, or choose another file`);
  }
  const temp = force ? path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`) : file;
  try {
    // 'wx': never through an existing file or symlink; the mode is set at creation (umask can only narrow it).
    fs.writeFileSync(temp, token, { mode: 0o600, flag: 'wx' });
    if (temp !== file) fs.renameSync(temp, file);
  } catch (error) {
    if (temp !== file) fs.rmSync(temp, { force: true });
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && temp === file) {
      throw new ConfigError('tokenFileExists', `--out ${file} already exists; pass --force to replace it, or choose another file`, { cause: error });
    }
    throw new TransportError('tokenFile', `cannot write the token to ${file} (${code ?? String(error)}) — choose a writable path for --out`, { cause: error });
  }
}
