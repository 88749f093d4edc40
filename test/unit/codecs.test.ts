import { describe, expect, it } from "vitest";
import { decompressSnappy } from "../../src/adapters/kafka/codecs.js";
// snappyjs also compresses; used here only to build the frames a Java producer sends.
import snappy from "snappyjs";

const compress = (data: Buffer) => Buffer.from(snappy.compress(data));

describe("snappy decoding", () => {
  const text = Buffer.from('{"cdr_id":"c-1","account_id":"acme"}'.repeat(50));

  it("reads a bare snappy block (librdkafka)", () => {
    expect(decompressSnappy(compress(text))).toEqual(text);
  });

  it("reads snappy-java's xerial framing with several blocks (Java producers)", () => {
    const header = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1]);
    const parts = [text.subarray(0, 700), text.subarray(700)];
    const blocks = parts.flatMap((part) => {
      const block = compress(part);
      const length = Buffer.alloc(4);
      length.writeUInt32BE(block.length);
      return [length, block];
    });
    expect(decompressSnappy(Buffer.concat([header, ...blocks]))).toEqual(text);
  });

  it("refuses a truncated xerial frame instead of returning partial data", () => {
    const header = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1]);
    const block = compress(text);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(block.length);
    expect(() => decompressSnappy(Buffer.concat([header, length, block.subarray(0, 10)]))).toThrow(
      /truncated/,
    );
  });
});
