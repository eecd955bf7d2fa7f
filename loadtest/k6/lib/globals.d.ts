// k6 provides `console` in every context; @types/k6 does not declare it (and "dom" would bring in
// far more than k6 has).
// eslint-disable-next-line no-var -- a global declared by `declare var` is what TypeScript sees as a global
declare var console: {
  log(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
};
