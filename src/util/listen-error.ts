/**
 * Why a listening socket could not be opened, in words a user can act on: shared by the
 * coordinator's --listen, a worker's --ring-port and the dashboard.
 */

/** The reason for `error` (from listen()), ending with what to do; `whenInUse` says what to do about a port in use. */
export function cannotListenBecause(error: NodeJS.ErrnoException, whenInUse: string): string {
  switch (error.code) {
    case 'EADDRINUSE':
      return `the port is in use — ${whenInUse}`;
    case 'EACCES':
      return 'permission denied (ports below 1024 need privileges) — choose a port from 1024 up';
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `this machine has no such address (${error.code}) — use 127.0.0.1 or one of this host's addresses`;
    default:
      return error.code ?? error.message;
  }
}
