/**
 * `npm run loadtest:overload -- --sustainable 2500` — P7 (loadtest/bench/overload.ts): the
 * reservation race offered at 3× the sustainable rate (--factor, default 3; the sustainable rate
 * defaults to reports/bench/compare.json's engineRps) against the engine with admission control set
 * low (--max-in-flight per app thread, default 64). Writes reports/bench/overload.json. Exits 1 on
 * an invariant violation.
 * Options: --sustainable N, --factor F (3), --duration S (10), --connections N (512),
 * --max-in-flight N (64).
 */
import { parseArgs } from 'node:util';
import { runOverload } from '../loadtest/bench/overload.ts';
import { writeBenchReport } from '../loadtest/bench/report.ts';

const { values } = parseArgs({
  options: {
    sustainable: { type: 'string' },
    factor: { type: 'string', default: '3' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '512' },
    'max-in-flight': { type: 'string', default: '64' },
  },
  strict: true,
});

async function main(): Promise<number> {
  const { result, summary } = await runOverload({
    ...(values.sustainable ? { sustainable: Number(values.sustainable) } : {}),
    factor: Number(values.factor),
    durationS: Number(values.duration),
    connections: Number(values.connections),
    maxInFlight: Number(values['max-in-flight']),
    say: (line) => void process.stderr.write(`${line}\n`),
  });
  writeBenchReport('overload', result);
  console.log(summary);
  return result.invariantsOk ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(2);
  },
);
