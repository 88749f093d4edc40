/**
 * Decompression for the codecs kafkajs lacks. Switches produce with librdkafka and
 * Java clients, so the consumer must read snappy, lz4 and zstd batches; gzip is built
 * in. Pure-JS decoders keep `npm ci` free of native builds. Compression is not offered:
 * ratestream's own producers send uncompressed or gzip.
 */
import { decompress as zstdDecompress } from "fzstd";
import kafkajs from "kafkajs";
import lz4 from "lz4js";
import snappy from "snappyjs";

interface KafkaCodec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

// snappy-java's stream framing (Java producers): magic, version, compat, then blocks of
// [u32 big-endian length][raw snappy block]. librdkafka sends a bare raw snappy block.
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const XERIAL_HEADER_BYTES = 16;

export function decompressSnappy(buffer: Buffer): Buffer {
  if (buffer.length < XERIAL_HEADER_BYTES || !buffer.subarray(0, 8).equals(XERIAL_MAGIC)) {
    return Buffer.from(snappy.uncompress(buffer));
  }
  const blocks: Buffer[] = [];
  let offset = XERIAL_HEADER_BYTES;
  while (offset < buffer.length) {
    if (offset + 4 > buffer.length) throw new Error("snappy: truncated xerial block header");
    const length = buffer.readUInt32BE(offset);
    offset += 4;
    if (offset + length > buffer.length) throw new Error("snappy: truncated xerial block");
    blocks.push(Buffer.from(snappy.uncompress(buffer.subarray(offset, offset + length))));
    offset += length;
  }
  return Buffer.concat(blocks);
}

/** LZ4 frame format (record batch v2 uses standard frames with a correct header checksum). */
export function decompressLz4(buffer: Buffer): Buffer {
  return Buffer.from(lz4.decompress(buffer));
}

export function decompressZstd(buffer: Buffer): Buffer {
  const out = zstdDecompress(buffer);
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

function decodeOnly(name: string, decompress: (buffer: Buffer) => Buffer): () => KafkaCodec {
  const codec: KafkaCodec = {
    compress: () => Promise.reject(new Error(`ratestream does not produce ${name}-compressed batches`)),
    decompress: (buffer) => Promise.resolve(decompress(buffer)),
  };
  return () => codec;
}

let registered = false;

/** Installs the decoders into kafkajs's codec table; safe to call more than once. */
export function registerCompressionCodecs(): void {
  if (registered) return;
  const { CompressionTypes, CompressionCodecs } = kafkajs;
  CompressionCodecs[CompressionTypes.Snappy] = decodeOnly("snappy", decompressSnappy);
  CompressionCodecs[CompressionTypes.LZ4] = decodeOnly("lz4", decompressLz4);
  CompressionCodecs[CompressionTypes.ZSTD] = decodeOnly("zstd", decompressZstd);
  registered = true;
}
