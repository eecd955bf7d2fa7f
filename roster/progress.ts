/**
 * The import's progress on stderr: on a terminal one line redrawn in place with "\r" (at most ten
 * times a second), elsewhere (CI logs, a pipe) a plain line every few seconds. It shows rows done
 * of the estimated total (from the file size and the bytes per line so far), rows/s, ETA and the
 * bad rows so far. It never prints row contents.
 */

export interface ProgressSnapshot {
  readonly label: string;
  readonly rowsDone: number;
  /** Estimated data rows of the file (exact once the file is read). */
  readonly rowsEstimate: number;
  readonly rejected: number;
  readonly elapsedMs: number;
}

export interface ProgressSink {
  update(snapshot: ProgressSnapshot): void;
  /** Draws the final state and ends the line. */
  done(snapshot: ProgressSnapshot): void;
}

const BAR_WIDTH = 24;
const TTY_INTERVAL_MS = 100;
const LOG_INTERVAL_MS = 5_000;

const count = (value: number): string => Math.round(value).toLocaleString('en-US');

function duration(ms: number): string {
  if (!Number.isFinite(ms)) return '--';
  const seconds = Math.max(0, Math.round(ms / 1000));
  return seconds < 60
    ? `${seconds}s`
    : `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
}

export function renderProgress(snapshot: ProgressSnapshot): string {
  const { rowsDone, rejected, elapsedMs } = snapshot;
  const total = Math.max(snapshot.rowsEstimate, rowsDone, 1);
  const ratio = Math.min(1, rowsDone / total);
  const filled = Math.round(ratio * BAR_WIDTH);
  const perSecond = elapsedMs > 0 ? (rowsDone * 1000) / elapsedMs : 0;
  const etaMs = perSecond > 0 ? ((total - rowsDone) / perSecond) * 1000 : Number.POSITIVE_INFINITY;
  return (
    `${snapshot.label} [${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ` +
    `${(ratio * 100).toFixed(0).padStart(3)}% ${count(rowsDone)}/~${count(total)} rows, ` +
    `${count(perSecond)} rows/s, ETA ${duration(etaMs)}, bad ${count(rejected)}`
  );
}

export function progressOnStderr(stream: NodeJS.WriteStream = process.stderr): ProgressSink {
  const tty = stream.isTTY === true;
  // Off a terminal the first line waits a full interval: short imports print only their end.
  let lastDrawn = tty ? 0 : performance.now();
  let lastLength = 0;
  const draw = (snapshot: ProgressSnapshot, final: boolean): void => {
    const text = renderProgress(snapshot);
    if (tty) {
      stream.write(`\r${text}${' '.repeat(Math.max(0, lastLength - text.length))}${final ? '\n' : ''}`);
      lastLength = text.length;
    } else {
      stream.write(`${text}\n`);
    }
  };
  return {
    update(snapshot) {
      const now = performance.now();
      if (now - lastDrawn < (tty ? TTY_INTERVAL_MS : LOG_INTERVAL_MS)) return;
      lastDrawn = now;
      draw(snapshot, false);
    },
    done(snapshot) {
      draw(snapshot, true);
      lastLength = 0;
      lastDrawn = tty ? 0 : performance.now();
    },
  };
}

export const noProgress: ProgressSink = { update() {}, done() {} };
