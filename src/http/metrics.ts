// GET /metrics: the service's metrics (src/metrics.ts) and the Temporal SDK's (Core's exporter, relayed), in
// Prometheus text format. With METRICS_TOKENS set, a bearer token from it is required (as Prometheus sends with
// `authorization: {credentials_file: …}`); without, only loopback clients are answered, so a service published on
// a network does not hand its figures to anyone who asks.
import type { RequestHandler } from 'express';
import { isLoopbackAddress } from '../loopback.js';
import type { Metrics } from '../metrics.js';
import { temporalMetricsText } from '../temporal/runtime-logging.js';
import { bearerChecker } from './auth.js';

export function metricsHandler(deps: { metrics: Metrics; tokens?: readonly string[] }): RequestHandler {
  const check = deps.tokens?.length ? bearerChecker(deps.tokens) : undefined;
  return async (req, res, next) => {
    if (check) {
      const c = check(req.get('authorization'));
      if (c.result === 'missing') {
        res
          .status(401)
          .set('WWW-Authenticate', 'Bearer')
          .json({ error: 'missing bearer token (Authorization: Bearer <one of METRICS_TOKENS>)' });
        return;
      }
      if (c.result === 'wrong') {
        res.status(403).json({ error: 'this token is not in METRICS_TOKENS' });
        return;
      }
    } else if (!isLoopbackAddress(req.socket.remoteAddress)) {
      res
        .status(403)
        .json({ error: 'metrics are served to loopback clients only; set METRICS_TOKENS to scrape remotely' });
      return;
    }
    try {
      const [own, temporal] = await Promise.all([deps.metrics.registry.metrics(), temporalMetricsText()]);
      res
        .status(200)
        .type(deps.metrics.registry.contentType)
        .send(temporal ? `${own}\n${temporal}` : own);
    } catch (err) {
      next(err);
    }
  };
}
