// The DNS responder's codec (main/node/dns.ts): answers for members' names and reverse names, and
// for everything a member could send that is not a plain query: dropped, never a crash, never an
// answer larger than the query for a name it does not know.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { answer, firstNameserver, type NameEntry, parseQuery, reverseAddress } from '../../main/node/dns';

const entries: NameEntry[] = [
  { name: 'pi.home', v4: '100.70.1.2', v6: 'fd12:3456:789a:0:1:2:3:4' },
  { name: 'laptop.home', v4: '100.80.9.9', v6: 'fd12:3456:789a:0:5:6:7:8' },
];

/** A query for `name` of `type`, with an EDNS OPT record when `edns`. */
function query(name: string, type: number, id = 0x1234, edns = false): Buffer {
  const labels = name.split('.').flatMap((l) => [Buffer.from([l.length]), Buffer.from(l)]);
  const head = Buffer.alloc(12);
  head.writeUInt16BE(id, 0);
  head.writeUInt16BE(0x0100, 2); // RD
  head.writeUInt16BE(1, 4);
  head.writeUInt16BE(edns ? 1 : 0, 10);
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(type, 0);
  tail.writeUInt16BE(1, 2);
  const opt = edns ? Buffer.from([0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0]) : Buffer.alloc(0);
  return Buffer.concat([head, ...labels, Buffer.from([0]), tail, opt]);
}
const rcode = (b: Buffer) => b.readUInt16BE(2) & 0xf;
const ancount = (b: Buffer) => b.readUInt16BE(6);

describe('DNS responder codec', () => {
  it('answers A and AAAA for a member, case-insensitively, with the query id and question', () => {
    const q = query('PI.Home', 1);
    const a = answer(parseQuery(q)!, 'home', entries);
    assert.equal(a.readUInt16BE(0), 0x1234);
    assert.equal(rcode(a), 0);
    assert.equal(ancount(a), 1);
    assert.deepEqual([...a.subarray(-4)], [100, 70, 1, 2]);
    assert.ok(a.readUInt16BE(2) & 0x0400, 'authoritative');
    const aaaa = answer(parseQuery(query('laptop.home', 28))!, 'home', entries);
    assert.equal(ancount(aaaa), 1);
    assert.equal(aaaa.subarray(-16).toString('hex'), 'fd123456789a00000005000600070008');
  });

  it('PTR for overlay addresses; NXDOMAIN in the domain, REFUSED outside, never larger than the query', () => {
    const ptr = answer(parseQuery(query('2.1.70.100.in-addr.arpa', 12))!, 'home', entries);
    assert.equal(ancount(ptr), 1);
    assert.equal(
      ptr.subarray(-9).toString('hex'),
      Buffer.from('\u0002pi\u0004home\u0000', 'latin1').toString('hex'),
    );
    assert.equal(
      reverseAddress('8.0.0.0.7.0.0.0.6.0.0.0.5.0.0.0.0.0.0.0.a.9.8.7.6.5.4.3.2.1.d.f.ip6.arpa'),
      entries[1].v6,
    );
    for (const [name, code] of [
      ['ghost.home', 3],
      ['example.com', 5],
      ['9.9.9.9.in-addr.arpa', 3],
    ] as const) {
      for (const edns of [false, true]) {
        const q = query(name, 1, 7, edns);
        const a = answer(parseQuery(q)!, 'home', entries);
        assert.equal(rcode(a), code, name);
        assert.ok(a.length <= q.length, `${name}: ${a.length} > ${q.length}`);
      }
    }
  });

  it('drops responses, other opcodes, several questions, compression, long labels, truncation, oversize', () => {
    const good = query('pi.home', 1);
    const variants: Buffer[] = [];
    const flip = (f: (b: Buffer) => void) => {
      const b = Buffer.from(good);
      f(b);
      variants.push(b);
    };
    flip((b) => b.writeUInt16BE(0x8100, 2)); // a response
    flip((b) => b.writeUInt16BE(0x2800, 2)); // opcode 5 (update)
    flip((b) => b.writeUInt16BE(2, 4)); // two questions
    flip((b) => b.writeUInt16BE(1, 6)); // an answer in a query
    flip((b) => (b[12] = 0xc0)); // a compression pointer in the question
    flip((b) => (b[12] = 64)); // a label over 63
    variants.push(good.subarray(0, good.length - 3)); // truncated
    variants.push(good.subarray(0, 11));
    variants.push(Buffer.concat([good, Buffer.alloc(600)])); // oversize
    const long = Buffer.alloc(12 + 5 * 64 + 5);
    long.writeUInt16BE(1, 4);
    for (let i = 0; i < 5; i++) long[12 + i * 64] = 63; // a name over 255
    variants.push(long);
    for (const v of variants) assert.equal(parseQuery(v), null, v.toString('hex').slice(0, 40));
  });

  it('any bytes: parse and answer never throw, and unknown names never amplify', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 600 }), (bytes) => {
        const q = parseQuery(Buffer.from(bytes));
        if (!q) return true;
        const a = answer(q, 'home', []);
        return a.length <= bytes.length;
      }),
      { numRuns: 3000 },
    );
  });

  it("an exit forwards to its resolv.conf's first IPv4 nameserver", () => {
    assert.equal(
      firstNameserver('# x\nsearch lan\nnameserver fe80::1\nnameserver 192.168.1.1\nnameserver 9.9.9.9\n'),
      '192.168.1.1',
    );
    assert.equal(firstNameserver('options edns0\n'), null);
  });
});
