// A stand-in for a `ws` WebSocket on the service's side of a Twilio Media Stream: the test plays Twilio, pushing
// frames in and reading what the service sent. Records whether each send was text (the only kind Twilio accepts).
import type { MediaSocket } from '../../src/voice/media-session.js';
import type { TwilioFrameInput } from '../../src/voice/frames.js';

export class FakeMediaSocket implements MediaSocket {
  readonly sent: string[] = [];
  /** Sees every frame the service sends (after it is recorded); a Twilio emulation hooks in here. */
  onSend: ((text: string) => void) | undefined;
  closedWith: number | undefined;
  private onMessage: ((data: Buffer | string, isBinary: boolean) => void) | undefined;
  private onClose: (() => void) | undefined;

  send(text: string): void {
    if (this.closedWith !== undefined) throw new Error('WebSocket is not open');
    if (typeof text !== 'string') throw new Error('binary frame sent');
    this.sent.push(text);
    this.onSend?.(text);
  }

  close(code?: number): void {
    if (this.closedWith !== undefined) return;
    this.closedWith = code ?? 1005;
    this.onClose?.();
  }

  on(event: 'message' | 'close', listener: (...args: never[]) => void): this {
    if (event === 'message') this.onMessage = listener as (data: Buffer | string, isBinary: boolean) => void;
    else this.onClose = listener as () => void;
    return this;
  }

  /** Twilio sends a frame (an object is sent as JSON text, a Buffer as-is). */
  receive(frame: TwilioFrameInput | Record<string, unknown> | string | Buffer, isBinary = false): void {
    const data = typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : Buffer.from(JSON.stringify(frame));
    this.onMessage?.(data, isBinary);
  }

  /** The caller hung up: the socket closes without a stop frame. */
  drop(): void {
    this.close(1006);
  }

  frames(): { event: string; streamSid: string; media?: { payload: string }; mark?: { name: string } }[] {
    return this.sent.map((s) => JSON.parse(s));
  }
}
