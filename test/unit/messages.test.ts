// Golden-bytes tests of the wire codecs (little-endian fields at WireGuard's offsets).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MSG_COOKIE_REPLY, MSG_INITIATION, MSG_RESPONSE, MSG_TRANSPORT } from '../../main/core/constants';
import {
  decodeCookieReply,
  decodeInitiation,
  decodeResponse,
  encodeCookieReply,
  encodeInitiation,
  encodeResponse,
  messageType,
  transportCounter,
  transportReceiver,
  writeTransportHeader,
} from '../../main/core/messages';

const fill = (n: number, v: number) => new Uint8Array(n).fill(v);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('messages', () => {
  it('initiation: 148 bytes, fields at their offsets, round-trips', () => {
    const m = {
      sender: 0x01020304,
      ephemeral: fill(32, 0xaa),
      encryptedStatic: fill(48, 0xbb),
      encryptedTimestamp: fill(28, 0xcc),
      mac1: fill(16, 0xdd),
      mac2: fill(16, 0xee),
    };
    const b = encodeInitiation(m);
    const want =
      `01000000` +
      `04030201` +
      'aa'.repeat(32) +
      'bb'.repeat(48) +
      'cc'.repeat(28) +
      'dd'.repeat(16) +
      'ee'.repeat(16);
    assert.equal(hex(b), want);
    assert.equal(messageType(b), MSG_INITIATION);
    assert.deepEqual(decodeInitiation(b), m);
  });

  it('response: 92 bytes, round-trips', () => {
    const m = {
      sender: 0xdeadbeef,
      receiver: 7,
      ephemeral: fill(32, 1),
      encryptedNothing: fill(16, 2),
      mac1: fill(16, 3),
      mac2: fill(16, 4),
    };
    const b = encodeResponse(m);
    assert.equal(
      hex(b),
      `02000000efbeadde07000000${'01'.repeat(32)}${'02'.repeat(16)}${'03'.repeat(16)}${'04'.repeat(16)}`,
    );
    assert.equal(messageType(b), MSG_RESPONSE);
    assert.deepEqual(decodeResponse(b), m);
  });

  it('cookie reply: 64 bytes, round-trips', () => {
    const m = { receiver: 0x11223344, nonce: fill(24, 9), encryptedCookie: fill(32, 8) };
    const b = encodeCookieReply(m);
    assert.equal(hex(b), `0300000044332211${'09'.repeat(24)}${'08'.repeat(32)}`);
    assert.equal(messageType(b), MSG_COOKIE_REPLY);
    assert.deepEqual(decodeCookieReply(b), m);
  });

  it('transport header: receiver and a 64-bit little-endian counter', () => {
    const b = Buffer.alloc(32);
    writeTransportHeader(b, 0, 0xcafebabe, 2 ** 40 + 5);
    assert.equal(b.subarray(0, 16).toString('hex'), '04000000bebafeca0500000000010000');
    assert.equal(messageType(b), MSG_TRANSPORT);
    assert.equal(transportReceiver(b), 0xcafebabe);
    assert.equal(transportCounter(b), 2 ** 40 + 5);
    b.writeUInt32LE(0xffffffff, 12); // counter beyond 2^53: reported as invalid
    assert.equal(transportCounter(b), -1);
  });

  it('rejects wrong sizes, non-zero reserved bytes and unknown types', () => {
    assert.equal(messageType(new Uint8Array(147).fill(0).map((_, i) => (i === 0 ? 1 : 0))), 0);
    const init = encodeInitiation({
      sender: 1,
      ephemeral: fill(32, 0),
      encryptedStatic: fill(48, 0),
      encryptedTimestamp: fill(28, 0),
      mac1: fill(16, 0),
      mac2: fill(16, 0),
    });
    init[2] = 1;
    assert.equal(messageType(init), 0);
    assert.equal(decodeInitiation(init), null);
    assert.equal(messageType(Buffer.from([5, 0, 0, 0])), 0);
    assert.equal(messageType(Buffer.alloc(31).fill(0, 1).fill(4, 0, 1)), 0); // shorter than a keepalive
    assert.equal(messageType(Buffer.alloc(0)), 0);
  });
});
