// k6 provides `console` in every context; @types/k6 does not declare it (and "dom" would bring in
// far more than k6 has).
declare var console: {
  log(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
};
