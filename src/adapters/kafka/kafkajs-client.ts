import kafkajs from "kafkajs";
import type { Logger } from "../../observability/logger.js";
import { configEntries, kafkaAdmin, waitUntilServed } from "./admin.js";
import { handleThenCommit } from "./batches.js";
import { registerCompressionCodecs } from "./codecs.js";
import { readTopicRange } from "./range-reader.js";
import type {
  BatchHandler,
  ConsumerOptions,
  KafkaAdmin,
  KafkaClient,
  KafkaConsumer,
  KafkaProducer,
  OutgoingMessage,
  RangeReadOptions,
} from "./types.js";

const { Kafka, logLevel } = kafkajs;

export interface KafkajsClientOptions {
  brokers: string[];
  clientId?: string;
  logger: Logger;
}

/** KafkaClient on kafkajs 2.x, with snappy/lz4/zstd decoders installed. */
export function createKafkajsClient(options: KafkajsClientOptions): KafkaClient {
  registerCompressionCodecs();
  const log = options.logger.child({ component: "kafka" });
  const kafka = new Kafka({
    clientId: options.clientId ?? "ratestream",
    brokers: options.brokers,
    // kafkajs logs through pino so every line is one JSON object like ours.
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log: entry }) => {
        const { message, ...rest } = entry;
        if (level <= logLevel.ERROR) log.error(rest, message);
        // Duplicates after a give-up are fine here (consumers de-duplicate): not a warning.
        else if (message.startsWith("Limiting retries for the idempotent producer")) log.debug(rest, message);
        else log.warn(rest, message);
      },
    retry: { initialRetryTime: 100, retries: 8 },
  });

  return {
    async producer(): Promise<KafkaProducer> {
      // Idempotent producer: a retried send after a lost ack is not written twice.
      const producer = kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
      });
      await producer.connect();
      return {
        async send(topic: string, messages: OutgoingMessage[]) {
          // One request per chunk: a whole consumer batch in one produce request can pass
          // the broker's message.max.bytes (1 MiB by default).
          for (const chunk of chunksBySize(messages))
            await producer.send({ topic, acks: -1, messages: chunk });
        },
        disconnect: () => producer.disconnect(),
      };
    },

    async consumer(opts: ConsumerOptions): Promise<KafkaConsumer> {
      const consumer = kafka.consumer({
        groupId: opts.groupId,
        maxBytesPerPartition: opts.maxBytesPerPartition ?? 4 * 1024 * 1024,
        maxWaitTimeInMs: opts.maxWaitTimeMs ?? 500,
        sessionTimeout: opts.sessionTimeoutMs ?? 30_000,
        allowAutoTopicCreation: false,
      });
      await consumer.connect();
      return {
        subscribe: (topics: string[]) =>
          consumer.subscribe({ topics, fromBeginning: opts.fromBeginning ?? true }),
        run: (handler: BatchHandler) =>
          consumer.run({
            autoCommit: false,
            eachBatchAutoResolve: false,
            partitionsConsumedConcurrently: opts.partitionsConcurrently ?? 1,
            eachBatch: (payload) =>
              handleThenCommit(
                payload,
                handler,
                () => payload.heartbeat(),
                (offset) => consumer.commitOffsets([offset]),
              ),
          }),
        disconnect: () => consumer.disconnect(),
      };
    },

    async admin(): Promise<KafkaAdmin> {
      const admin = kafka.admin();
      await admin.connect();
      return kafkaAdmin(admin, async (missing) => {
        await admin.createTopics({
          waitForLeaders: false, // it gives up while the broker still learns the topic
          topics: missing.map((t) => ({
            topic: t.topic,
            numPartitions: t.partitions,
            replicationFactor: 1,
            configEntries: configEntries(t),
          })),
        });
        await waitUntilServed(admin, missing);
      });
    },

    async readFromTime(range: RangeReadOptions) {
      const admin = kafka.admin();
      await admin.connect();
      try {
        return await readTopicRange(
          admin,
          async (groupId) => {
            const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 200, allowAutoTopicCreation: false });
            await consumer.connect();
            return {
              subscribe: (topic) => consumer.subscribe({ topics: [topic], fromBeginning: true }),
              run: (eachBatch) => consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch }),
              seek: (position) => consumer.seek(position),
              disconnect: () => consumer.disconnect(),
            };
          },
          range,
        );
      } finally {
        await admin.disconnect();
      }
    },
  };
}

const CHUNK_BYTES = 512 * 1024;
const CHUNK_MESSAGES = 2_000;

function sizeOf(value: string | Buffer | null | undefined): number {
  if (value == null) return 0;
  return typeof value === "string" ? Buffer.byteLength(value) : value.length;
}

export function* chunksBySize(messages: OutgoingMessage[]): Generator<OutgoingMessage[]> {
  let chunk: OutgoingMessage[] = [];
  let bytes = 0;
  for (const message of messages) {
    let size = sizeOf(message.key) + sizeOf(message.value) + 64;
    for (const [name, value] of Object.entries(message.headers ?? {})) size += name.length + sizeOf(value);
    if (chunk.length > 0 && (bytes + size > CHUNK_BYTES || chunk.length >= CHUNK_MESSAGES)) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(message);
    bytes += size;
  }
  if (chunk.length > 0) yield chunk;
}
