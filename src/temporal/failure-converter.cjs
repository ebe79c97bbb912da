// The failure converter of every Temporal client, worker and workflow bundle of this service: the default one with
// encodeCommonAttributes, so failure messages and stack traces travel as an encoded payload (through the
// encryption codec) instead of readable text in history (docs/temporal.md, "Payload codec and codec server").
// CommonJS on purpose: the SDK loads it with require() in Node and bundles it into the workflow isolate with
// webpack, and neither path can load TypeScript.
'use strict';
const { DefaultFailureConverter } = require('@temporalio/common');

exports.failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
