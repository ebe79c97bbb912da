// A local fake of Deepgram for tests and the sandbox, speaking Deepgram's real wire protocol so the real
// @deepgram/sdk talks to it unchanged through its `baseUrl` option: one `http://127.0.0.1:PORT` base drives both
// REST and the WebSocket, and the SDK joins the base URL's path with `/v1/listen` and `v1/speak`, so a path prefix
// on the base URL is kept: see docs/deepgram.md ("Live transcription", "Text to speech"). Deepgram documents the
// protocol at https://developers.deepgram.com/docs/lower-level-websockets (listen),
// https://developers.deepgram.com/docs/finalize and https://developers.deepgram.com/docs/close-stream (control
// messages) and https://developers.deepgram.com/reference/text-to-speech/speak-request (speak).
//
// Listen: `GET {prefix}/v1/listen?<query>` upgraded to a WebSocket, `Authorization: Token <key>` (401 otherwise).
//   in:  binary audio frames; text JSON {"type":"KeepAlive"|"Finalize"|"CloseStream"}
//   out: text JSON Results (interim, then final with speech_final), UtteranceEnd, Metadata (after CloseStream,
//        then close 1000). Like Deepgram, it closes 1011 (NET-0001) after `idleTimeoutMs` with no audio and no
//        message (https://developers.deepgram.com/docs/audio-keep-alive), and 1008 on a text frame it cannot read.
// Speak: `POST {prefix}/v1/speak?model&encoding=mulaw&sample_rate=8000&container=none`, JSON {"text": …} → raw
//   audio bytes. The fake only makes raw 8 kHz μ-law and answers 400 for anything else, so a client that forgets
//   one of those parameters fails here as it would play a WAV header as a click on a real call.
//
// Everything it receives is recorded (`requests()`), so tests can scan what would have reached Deepgram.
import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { z } from 'zod';

export interface DeepgramFakeOptions {
  apiKey: string;
  /** Fed each binary audio frame of a connection in order; returns a transcript when an utterance is complete. */
  transcribe?: (frame: Buffer, connectionId: number) => string | undefined;
  /** Audio for a speak request; default: deterministic μ-law derived from the text (see `fakeSpeech`). */
  speak?: (text: string) => Buffer;
  /** Deepgram's no-audio timeout (NET-0001); default 10 000 ms as documented. */
  idleTimeoutMs?: number;
  /** Path prefix to serve under, e.g. "/deepgram"; default none. */
  prefix?: string;
}

export interface FakeRequest {
  kind: 'listen' | 'speak';
  /** Request path without the query string. */
  path: string;
  query: Record<string, string[]>;
  /** Whether `Authorization: Token <apiKey>` was presented. */
  authOk: boolean;
  /** HTTP status answered (101 for an accepted WebSocket upgrade). */
  status: number;
  /** Every text message received on a listen connection, verbatim. */
  messages: string[];
  /** The REST body of a speak request, verbatim. */
  body?: string;
}

export interface FakeListenConnection {
  id: number;
  open: boolean;
  audioFrames: number;
  audioBytes: number;
  keepAlives: number;
  /** Final transcripts sent on this connection (from `transcribe` or `say`), the newest 100: what Deepgram "heard". */
  transcripts: string[];
  /** The close code, once closed (by either side). */
  closeCode?: number;
}

export interface DeepgramFake {
  /** Serves the fake on its own loopback port (0 = any free port). */
  listen(port?: number): Promise<{ baseUrl: string; close(): Promise<void> }>;
  /** For mounting on an existing server: returns false when the request is not the fake's. */
  handleRequest(req: http.IncomingMessage, res: http.ServerResponse): boolean;
  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): boolean;
  requests(): FakeRequest[];
  connections(): FakeListenConnection[];
  /**
   * Speaks a transcript on every open listen connection (interims, final, UtteranceEnd), as `transcribe` would.
   * `endOfSpeech: false` sends the final segment with speech_final false and no UtteranceEnd: the caller goes on.
   */
  say(transcript: string, opts?: { endOfSpeech?: boolean }): void;
  /** Closes every open listen connection now with `code` (default 1011), as a Deepgram-side failure. */
  drop(code?: number, reason?: string): void;
  /** The next `n` listen handshakes are answered with `status` (default 503) instead of upgrading. */
  failHandshakes(n: number, status?: number): void;
}

const speakBody = z.object({ text: z.string().min(1) });
const controlMessage = z.object({ type: z.enum(['KeepAlive', 'Finalize', 'CloseStream']) });

const SAMPLE_RATE = 8000;
const FRAME_BYTES = 160;

/** Deterministic stand-in speech: two frames of silence, 2 + text length frames of "voice", two of silence. */
export function fakeSpeech(text: string): Buffer {
  const voiced = FRAME_BYTES * (2 + text.length);
  const out = Buffer.alloc(FRAME_BYTES * 4 + voiced, 0xff);
  let seed = createHash('sha256').update(text).digest();
  for (let i = 0; i < voiced; i++) {
    if (i % 32 === 0) seed = createHash('sha256').update(seed).digest();
    // Bytes 0x00–0x6f and 0x80–0xef are μ-law codes well above the noise floor (segments 1–7), never near-silence.
    const b = (seed[i % 32] ?? 0) % 0x70;
    out[FRAME_BYTES * 2 + i] = i % 2 === 0 ? b : b | 0x80;
  }
  return out;
}

function queryOf(url: URL): Record<string, string[]> {
  const q: Record<string, string[]> = {};
  for (const [k, v] of url.searchParams) (q[k] ??= []).push(v);
  return q;
}

function rejectUpgrade(socket: Duplex, status: number, body: object): void {
  const text = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
  );
}

export function createDeepgramFake(opts: DeepgramFakeOptions): DeepgramFake {
  const prefix = (opts.prefix ?? '').replace(/\/+$/, '');
  const idleTimeoutMs = opts.idleTimeoutMs ?? 10_000;
  const speak = opts.speak ?? fakeSpeech;
  const wss = new WebSocketServer({ noServer: true });
  const recorded: FakeRequest[] = [];
  const conns: FakeListenConnection[] = [];
  /** A long sandbox run must not grow for ever: keep the newest records (a test never comes near). */
  const keep = <T>(list: T[], item: T, max = 2_000) => {
    list.push(item);
    if (list.length > max) list.splice(0, list.length - max);
  };
  const live = new Map<number, { ws: WebSocket; emit(transcript: string, endOfSpeech?: boolean): void }>();
  let failing = 0;
  let failStatus = 503;
  let nextId = 1;

  const authOk = (req: http.IncomingMessage) => req.headers.authorization === `Token ${opts.apiKey}`;
  const errorBody = (err_code: string, err_msg: string) => ({ err_code, err_msg, request_id: randomUUID() });

  function acceptListen(ws: WebSocket, record: FakeRequest): void {
    const conn: FakeListenConnection = {
      id: nextId++,
      open: true,
      audioFrames: 0,
      audioBytes: 0,
      keepAlives: 0,
      transcripts: [],
    };
    keep(conns, conn);
    const requestId = randomUUID();
    let audioSeconds = 0;
    let lastEnd = 0;
    let idle: NodeJS.Timeout | undefined;
    const send = (msg: object) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
    };
    const armIdle = () => {
      clearTimeout(idle);
      idle = setTimeout(
        () =>
          ws.close(
            1011,
            'Deepgram did not receive audio data or a text message within the timeout window. See https://dpgr.am/net0001',
          ),
        idleTimeoutMs,
      );
    };
    const results = (transcript: string, isFinal: boolean, speechFinal: boolean, fromFinalize = false) => {
      const words = transcript.split(/\s+/).filter(Boolean);
      const start = lastEnd;
      const duration = Math.max(0, audioSeconds - start);
      send({
        type: 'Results',
        channel_index: [0, 1],
        duration,
        start,
        is_final: isFinal,
        speech_final: speechFinal,
        ...(fromFinalize ? { from_finalize: true } : {}),
        channel: {
          alternatives: [
            {
              transcript,
              confidence: 0.98,
              words: words.map((w, i) => ({
                word: w.toLowerCase().replace(/[^\p{L}\p{N}']/gu, ''),
                start: start + (duration * i) / words.length,
                end: start + (duration * (i + 1)) / words.length,
                confidence: 0.98,
                punctuated_word: w,
              })),
            },
          ],
        },
        metadata: {
          request_id: requestId,
          model_info: { name: 'fake', version: '0', arch: 'fake' },
          model_uuid: requestId,
        },
      });
    };
    const emit = (transcript: string, endOfSpeech = true) => {
      // Interim results grow word by word before the final, as Deepgram's do (half the words, then all of them).
      const words = transcript.split(/\s+/).filter(Boolean);
      const half = Math.ceil(words.length / 2);
      if (half < words.length) results(words.slice(0, half).join(' '), false, false);
      results(transcript, false, false);
      results(transcript, true, endOfSpeech);
      keep(conn.transcripts, transcript, 100);
      lastEnd = audioSeconds;
      if (endOfSpeech) send({ type: 'UtteranceEnd', channel: [0, 1], last_word_end: lastEnd });
    };
    live.set(conn.id, { ws, emit });
    armIdle();

    ws.on('message', (data, isBinary) => {
      armIdle();
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      if (isBinary) {
        // A zero-byte binary message is Deepgram's deprecated way of saying CloseStream.
        if (buf.length === 0) return closeStream();
        conn.audioFrames++;
        conn.audioBytes += buf.length;
        audioSeconds += buf.length / SAMPLE_RATE;
        const transcript = opts.transcribe?.(buf, conn.id);
        if (transcript) emit(transcript);
        return;
      }
      const text = buf.toString('utf8');
      keep(record.messages, text, 500);
      let parsed: z.infer<typeof controlMessage>;
      try {
        parsed = controlMessage.parse(JSON.parse(text));
      } catch {
        ws.close(1008, 'DATA-0000: the text message could not be read');
        return;
      }
      if (parsed.type === 'KeepAlive') conn.keepAlives++;
      else if (parsed.type === 'Finalize') results('', true, false, true);
      else closeStream();
    });
    function closeStream(): void {
      send({
        type: 'Metadata',
        transaction_key: 'deprecated',
        request_id: requestId,
        sha256: createHash('sha256').update(String(conn.audioBytes)).digest('hex'),
        created: new Date().toISOString(),
        duration: audioSeconds,
        channels: 1,
      });
      ws.close(1000);
    }
    ws.on('close', (code) => {
      clearTimeout(idle);
      conn.open = false;
      conn.closeCode = code;
      live.delete(conn.id);
    });
    ws.on('error', () => {
      /* a client that vanished; 'close' follows */
    });
  }

  function handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = new URL(req.url ?? '/', 'http://fake');
    if (url.pathname !== `${prefix}/v1/listen`) return false;
    const record: FakeRequest = {
      kind: 'listen',
      path: url.pathname,
      query: queryOf(url),
      authOk: authOk(req),
      status: 101,
      messages: [],
    };
    keep(recorded, record);
    socket.on('error', () => {
      /* client gone mid-handshake */
    });
    if (!record.authOk) {
      record.status = 401;
      rejectUpgrade(socket, 401, errorBody('INVALID_AUTH', 'Invalid credentials.'));
    } else if (failing > 0) {
      failing--;
      record.status = failStatus;
      rejectUpgrade(socket, failStatus, errorBody('SERVICE_UNAVAILABLE', 'The fake was told to fail this handshake.'));
    } else {
      wss.handleUpgrade(req, socket, head, (ws) => acceptListen(ws, record));
    }
    return true;
  }

  function handleRequest(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const url = new URL(req.url ?? '/', 'http://fake');
    if (url.pathname !== `${prefix}/v1/speak`) return false;
    const record: FakeRequest = {
      kind: 'speak',
      path: url.pathname,
      query: queryOf(url),
      authOk: authOk(req),
      status: 0,
      messages: [],
    };
    keep(recorded, record);
    const answer = (status: number, body: Buffer | object) => {
      record.status = status;
      if (Buffer.isBuffer(body)) {
        res.writeHead(status, { 'content-type': 'application/octet-stream', 'content-length': body.length });
        res.end(body);
      } else {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      }
    };
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      record.body = Buffer.concat(chunks).toString('utf8');
      if (req.method !== 'POST') return answer(405, errorBody('METHOD_NOT_ALLOWED', 'Use POST.'));
      if (!record.authOk) return answer(401, errorBody('INVALID_AUTH', 'Invalid credentials.'));
      const q = (k: string) => url.searchParams.get(k);
      if (q('encoding') !== 'mulaw' || q('sample_rate') !== '8000' || q('container') !== 'none') {
        return answer(
          400,
          errorBody(
            'UNSUPPORTED_BY_FAKE',
            'The fake only makes raw μ-law: encoding=mulaw&sample_rate=8000&container=none.',
          ),
        );
      }
      let text: string;
      try {
        text = speakBody.parse(JSON.parse(record.body)).text;
      } catch {
        return answer(400, errorBody('INVALID_TEXT', 'Body must be JSON {"text": "…"}.'));
      }
      answer(200, speak(text));
    });
    return true;
  }

  return {
    handleRequest,
    handleUpgrade,
    async listen(port = 0) {
      const server = http.createServer((req, res) => {
        if (!handleRequest(req, res)) {
          res.writeHead(404).end();
        }
      });
      server.on('upgrade', (req, socket, head) => {
        if (!handleUpgrade(req, socket, head)) rejectUpgrade(socket, 404, errorBody('NOT_FOUND', 'No such path.'));
      });
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
      const { port: bound } = server.address() as AddressInfo;
      return {
        baseUrl: `http://127.0.0.1:${bound}${prefix}`,
        close: async () => {
          for (const { ws } of live.values()) ws.terminate();
          server.closeAllConnections();
          await new Promise<void>((resolve) => server.close(() => resolve()));
        },
      };
    },
    requests: () => recorded,
    connections: () => conns,
    say(transcript, sayOpts) {
      for (const { emit } of live.values()) emit(transcript, sayOpts?.endOfSpeech ?? true);
    },
    drop(code = 1011, reason = 'NET-0000: the fake dropped the connection') {
      for (const { ws } of live.values()) ws.close(code, reason);
    },
    failHandshakes(n, status = 503) {
      failing = n;
      failStatus = status;
    },
  };
}
