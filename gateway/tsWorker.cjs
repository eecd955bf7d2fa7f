// Entry of the gateway's app threads. A worker thread starts a plain JS file; on Node 20 tsx's
// ESM hooks do not reach worker threads, but its require hook (execArgv `--import tsx`) does, so
// the TypeScript module named in workerData.entry (a path) is loaded with require, as piscina
// loads its task files. The module must therefore not use top-level await.
const { workerData } = require('node:worker_threads');

require(workerData.entry);
