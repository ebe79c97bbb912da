// GET /metrics: the service's metrics (src/metrics.ts) and the Temporal SDK's (Core's exporter, relayed), in
// Prometheus text format. With METRICS_TOKENS set, a bearer token from it is required (the agent API's check,
// src/http/auth.ts; Prometheus sends it with `authorization: {credentials_file: …}`); without, only loopback clients
// are answered, directly (loopbackOnly: no proxy or tunnel in between, src/loopback.ts), so a service published on a
// network, or through ngrok for Twilio, does not hand its figures to anyone who asks.
import { Router, type RequestHandler } from 'express';
import { isDirectLocalRequest } from '../loopback.js';
import type { Metrics } from '../metrics.js';
import { temporalMetricsText } from '../temporal/runtime-logging.js';
import { bearerAuth } from './auth.js';

export const loopbackOnly: RequestHandler = (req, res, next) => {
  const facts = { peer: req.socket.remoteAddress, host: req.get('host'), headerNames: Object.keys(req.headers) };
  if (isDirectLocalRequest(facts)) return next();
  res.status(403).json({
    error: 'metrics are served to requests made on this machine only; set METRICS_TOKENS to scrape remotely',
  });
};

export function metricsRouter(deps: { metrics: Metrics; tokens?: readonly string[] }): Router {
  const r = Router();
  r.get('/metrics', deps.tokens?.length ? bearerAuth(deps.tokens) : loopbackOnly, async (_req, res, next) => {
    try {
      const [own, temporal] = await Promise.all([deps.metrics.registry.metrics(), temporalMetricsText()]);
      res
        .status(200)
        .type(deps.metrics.registry.contentType)
        .send(temporal ? `${own}\n${temporal}` : own);
    } catch (err) {
      next(err);
    }
  });
  return r;
}
