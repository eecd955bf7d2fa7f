/**
 * Prometheus metrics of one gateway thread (prom-client). Every thread keeps its own registry;
 * the thread that answers GET /metrics asks the others for theirs and merges them
 * (gateway/threads.ts), so /metrics always shows the whole process.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by route and method',
    labelNames: ['route', 'method'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly reservations = new Counter({
    name: 'reservations_total',
    help: 'Reservation attempts by kind (WRITTEN, ORAL) and outcome (OK or the refusal code)',
    labelNames: ['kind', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly inFlight = new Gauge({
    name: 'admission_in_flight',
    help: 'Requests admitted and not yet answered (this thread)',
    registers: [this.registry],
  });
  readonly shed = new Counter({
    name: 'admission_shed_total',
    help: 'Requests refused by admission control, by code (OVERLOADED, RATE_LIMITED)',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly wsClients = new Gauge({
    name: 'ws_dashboard_clients',
    help: 'Connected dashboard WebSockets (this thread)',
    registers: [this.registry],
  });

  constructor(options: { defaultMetrics?: boolean; labels?: Record<string, string> } = {}) {
    if (options.labels) this.registry.setDefaultLabels(options.labels);
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }
}
