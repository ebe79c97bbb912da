import { describe, expect, it } from 'vitest';
import { intentOf } from '../../src/deepgram/intent.js';

describe('intentOf', () => {
  const table: Array<[string, ReturnType<typeof intentOf>]> = [
    // repeat
    ['Repeat.', 'repeat'],
    ['Can you repeat that?', 'repeat'],
    ['Say again?', 'repeat'],
    ['Could you say that again, please', 'repeat'],
    ['One more time.', 'repeat'],
    ['What?', 'repeat'],
    ['Sorry, what?', 'repeat'],
    ['What was that?', 'repeat'],
    ["What's that?", 'repeat'],
    ["I didn't catch that.", 'repeat'],
    ['Sorry?', 'repeat'],
    ['Pardon?', 'repeat'],
    ['One.', 'repeat'],
    ['Press 1', 'repeat'],
    ['Thanks, can you repeat it?', 'repeat'],
    // slower
    ['Slower, please.', 'slower'],
    ['Can you slow down?', 'slower'],
    ["You're going too fast.", 'slower'],
    ['Say it again slower', 'slower'],
    ['Read it slowly', 'slower'],
    // got it
    ['Got it.', 'got_it'],
    ['Okay, got it. Thanks.', 'got_it'],
    ['Thanks!', 'got_it'],
    ['Thank you.', 'got_it'],
    ['Done.', 'got_it'],
    ["I'm done", 'got_it'],
    ["I've got it, thanks", 'got_it'],
    ['No thanks, I got it', 'got_it'],
    ['No need to repeat it, I have it', 'got_it'],
    ["Don't say it again, got it", 'got_it'],
    // nothing (the false positives that matter)
    ['I forgot it.', undefined],
    ["I haven't got it yet", undefined],
    ["I don't think I got it", undefined],
    ['I have not got it', undefined],
    ['Almost got it', undefined],
    ['What a lovely day it is today', undefined],
    ['Are you done?', undefined],
    ['Hello?', undefined],
    ['Okay.', undefined],
    ['One two three', undefined],
    ["Don't repeat it", undefined],
    ['', undefined],
    ['   ...  ', undefined],
    ['Therapeutic gotten agains', undefined],
  ];
  it.each(table)('%j → %s', (transcript, expected) => {
    expect(intentOf(transcript)).toBe(expected);
  });
});
