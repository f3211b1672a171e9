/** The logger the transport writes to: pino's `(fields, message)` shape; silent by default. */
export interface TransportLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export const silentLogger: TransportLogger = {
  info() {},
  warn() {},
};
