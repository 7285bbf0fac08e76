// Prometheus metrics of the model server, in the text exposition format (version 0.0.4), without a dependency.

class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(readonly buckets: readonly number[]) {
    this.counts = buckets.map(() => 0);
  }
  observe(value: number): void {
    this.sum += value;
    this.count++;
    this.buckets.forEach((bound, i) => {
      if (value <= bound) this.counts[i]++;
    });
  }
  render(name: string, labels = ''): string[] {
    const sep = labels ? `${labels},` : '';
    return [
      ...this.buckets.map((bound, i) => `${name}_bucket{${sep}le="${bound}"} ${this.counts[i]}`),
      `${name}_bucket{${sep}le="+Inf"} ${this.count}`,
      `${name}_sum${labels ? `{${labels}}` : ''} ${this.sum}`,
      `${name}_count${labels ? `{${labels}}` : ''} ${this.count}`,
    ];
  }
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128];

export class ServerMetrics {
  private readonly requests = new Map<string, number>();
  private readonly latency = new Map<string, Histogram>();
  private readonly batchSize = new Histogram(BATCH_BUCKETS);
  private readonly decode = new Histogram(LATENCY_BUCKETS);

  constructor(
    private readonly queueDepth: () => number, private readonly inFlight: () => number,
    private readonly decodeQueue: () => number = () => 0, private readonly parseQueue: () => number = () => 0,
  ) {}

  /** One answered request: `route` is a fixed name (predict, classify, explain, status, metadata, page, samples, metrics, other). */
  observeRequest(route: string, status: number, seconds: number): void {
    const key = `route="${route}",code="${status}"`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    let h = this.latency.get(route);
    if (!h) this.latency.set(route, (h = new Histogram(LATENCY_BUCKETS)));
    h.observe(seconds);
  }

  observeBatch(size: number): void {
    this.batchSize.observe(size);
  }

  observeDecode(seconds: number): void {
    this.decode.observe(seconds);
  }

  render(): string {
    const lines = [
      '# HELP carclass_requests_total HTTP requests answered, by route and status code.',
      '# TYPE carclass_requests_total counter',
      ...[...this.requests].map(([labels, n]) => `carclass_requests_total{${labels}} ${n}`),
      '# HELP carclass_request_latency_seconds Time from request to answer, by route.',
      '# TYPE carclass_request_latency_seconds histogram',
      ...[...this.latency].flatMap(([route, h]) => h.render('carclass_request_latency_seconds', `route="${route}"`)),
      '# HELP carclass_batch_size Images per engine batch.',
      '# TYPE carclass_batch_size histogram',
      ...this.batchSize.render('carclass_batch_size'),
      ...gauge('carclass_queue_depth', 'Images waiting for an engine batch.', this.queueDepth()),
      ...gauge('carclass_requests_in_flight', 'POST requests admitted and not yet answered.', this.inFlight()),
      ...gauge('carclass_decode_queue', 'Images waiting for a decoder thread.', this.decodeQueue()),
      ...gauge('carclass_parse_queue', 'Request bodies waiting for a parser thread.', this.parseQueue()),
      '# HELP carclass_decode_seconds Time to decode one b64 image.',
      '# TYPE carclass_decode_seconds histogram',
      ...this.decode.render('carclass_decode_seconds'),
    ];
    return `${lines.join('\n')}\n`;
  }
}

function gauge(name: string, help: string, value: number): string[] {
  return [`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${value}`];
}
