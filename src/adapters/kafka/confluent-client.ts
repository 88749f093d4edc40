/**
 * KafkaClient on @confluentinc/kafka-javascript (librdkafka, KafkaJS-style API), the
 * alternative to kafkajs, selected with KAFKA_CLIENT=confluent. It is an optional
 * dependency: it builds natively (CKJS_LINKING=dynamic with libssl-dev and zlib1g-dev)
 * and may be missing, so it is loaded on demand and typed here by the little it is
 * asked for. librdkafka decompresses every codec itself.
 */
import { RatestreamError } from "../../errors.js";
import type { Logger } from "../../observability/logger.js";
import { configEntries, kafkaAdmin, waitUntilServed } from "./admin.js";
import { handleThenCommit, type ClientBatchPayload } from "./batches.js";
import { chunksBySize } from "./kafkajs-client.js";
import { readTopicRange, type RangeAdmin } from "./range-reader.js";
import type {
  BatchHandler,
  ConsumerOptions,
  KafkaAdmin,
  KafkaClient,
  KafkaConsumer,
  KafkaProducer,
  RangeReadOptions,
} from "./types.js";

interface CkOffsets {
  topic: string;
  partition: number;
  offset: string;
}
interface CkConsumer {
  connect(): Promise<void>;
  subscribe(s: { topics: string[] }): Promise<void>;
  run(r: {
    eachBatchAutoResolve: boolean;
    partitionsConsumedConcurrently: number;
    eachBatch(p: ClientBatchPayload): Promise<void>;
  }): Promise<void>;
  commitOffsets(offsets: CkOffsets[]): Promise<void>;
  seek(position: CkOffsets): void;
  disconnect(): Promise<void>;
}
interface CkProducer {
  connect(): Promise<void>;
  send(r: {
    topic: string;
    messages: { key: unknown; value: unknown; headers?: unknown; partition?: number }[];
  }): Promise<unknown>;
  disconnect(): Promise<void>;
}
interface CkAdmin extends RangeAdmin {
  connect(): Promise<void>;
  createTopics(r: {
    topics: { topic: string; numPartitions: number; configEntries: { name: string; value: string }[] }[];
  }): Promise<boolean>;
}
interface CkKafka {
  producer(config: Record<string, unknown>): CkProducer;
  consumer(config: Record<string, unknown>): CkConsumer;
  admin(config?: Record<string, unknown>): CkAdmin;
}
interface CkModule {
  KafkaJS: { Kafka: new (config: Record<string, unknown>) => CkKafka; logLevel: Record<string, number> };
}

const MODULE = "@confluentinc/kafka-javascript";

async function load(): Promise<CkModule> {
  try {
    const loaded = (await import(MODULE)) as CkModule & { default?: CkModule };
    return loaded.default ?? loaded;
  } catch (err) {
    throw new RatestreamError(
      "bad_config",
      `KAFKA_CLIENT=confluent: ${MODULE} is not installed (it builds natively: CKJS_LINKING=dynamic npm ci, with libssl-dev and zlib1g-dev)`,
      { cause: err },
    );
  }
}

export interface ConfluentClientOptions {
  brokers: string[];
  clientId?: string;
  logger: Logger;
}

/** Consumer batches of up to this many records (librdkafka's default JS batch is 32). */
const MAX_BATCH = 10_000;

export async function createConfluentClient(options: ConfluentClientOptions): Promise<KafkaClient> {
  const { KafkaJS } = await load();
  const log = options.logger.child({ component: "kafka" });
  const kafka = new KafkaJS.Kafka({
    kafkaJS: {
      clientId: options.clientId ?? "ratestream",
      brokers: options.brokers,
      logLevel: KafkaJS.logLevel.WARN,
      logger: {
        info: () => undefined,
        debug: () => undefined,
        warn: (message: string, extra: object) => log.warn(extra, message),
        error: (message: string, extra: object) => log.error(extra, message),
        setLogLevel: () => undefined,
        namespace: () => undefined,
      },
    },
  });

  return {
    async producer(): Promise<KafkaProducer> {
      const producer = kafka.producer({ kafkaJS: { idempotent: true, acks: -1 }, "linger.ms": 5 });
      await producer.connect();
      return {
        async send(topic, messages) {
          for (const chunk of chunksBySize(messages)) await producer.send({ topic, messages: chunk });
        },
        disconnect: () => producer.disconnect(),
      };
    },

    async consumer(opts: ConsumerOptions): Promise<KafkaConsumer> {
      const consumer = kafka.consumer({
        kafkaJS: {
          groupId: opts.groupId,
          fromBeginning: opts.fromBeginning ?? true,
          autoCommit: false,
          sessionTimeout: opts.sessionTimeoutMs ?? 30_000,
          maxWaitTimeInMs: opts.maxWaitTimeMs ?? 500,
        },
        "max.partition.fetch.bytes": opts.maxBytesPerPartition ?? 4 * 1024 * 1024,
        "js.consumer.max.batch.size": MAX_BATCH,
      });
      await consumer.connect();
      return {
        subscribe: (topics) => consumer.subscribe({ topics }),
        run: (handler: BatchHandler) =>
          consumer.run({
            eachBatchAutoResolve: false,
            partitionsConsumedConcurrently: opts.partitionsConcurrently ?? 1,
            eachBatch: (payload) =>
              handleThenCommit(
                payload,
                handler,
                () => Promise.resolve(), // librdkafka heartbeats on its own thread
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
          topics: missing.map((t) => ({
            topic: t.topic,
            numPartitions: t.partitions,
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
            const consumer = kafka.consumer({
              kafkaJS: { groupId, fromBeginning: true, autoCommit: false, maxWaitTimeInMs: 200 },
              "js.consumer.max.batch.size": MAX_BATCH,
            });
            await consumer.connect();
            return {
              subscribe: (topic) => consumer.subscribe({ topics: [topic] }),
              run: (eachBatch) =>
                consumer.run({ eachBatchAutoResolve: false, partitionsConsumedConcurrently: 1, eachBatch }),
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
