// Types for the two pure-JS decompressors that ship none.
declare module "lz4js" {
  const lz4: { decompress(src: Uint8Array, maxSize?: number): Uint8Array };
  export default lz4;
}
declare module "snappyjs" {
  const snappy: {
    uncompress(compressed: Uint8Array, maxLength?: number): Uint8Array;
    compress(data: Uint8Array): Uint8Array;
  };
  export default snappy;
}
