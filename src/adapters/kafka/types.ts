/**
 * The project's own view of Kafka: just what ratestream needs from a producer, a
 * consumer and an admin. The pipeline depends on these interfaces only, so the client
 * library behind them (kafkajs today) can be swapped or measured against another.
 */

export interface OutgoingMessage {
  key: string | Buffer | null;
  value: string | Buffer | null;
  headers?: Record<string, string | Buffer>;
  partition?: number;
}

export interface IncomingMessage {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | undefined>;
  /** Producer or log-append time, milliseconds since the epoch, as Kafka sent it. */
  timestamp: string;
}

export interface Batch {
  topic: string;
  partition: number;
  messages: IncomingMessage[];
  highWatermark: string;
}

export interface BatchControls {
  /** Tell the group coordinator this member is alive during a long batch. */
  heartbeat(): Promise<void>;
  /** True once a rebalance took this partition away: stop early, nothing is committed. */
  isStale(): boolean;
}

/**
 * Handles one batch of one partition. The consumer commits the batch's offsets only
 * after the returned promise resolves; if it rejects, nothing is committed and the
 * records are delivered again.
 */
export type BatchHandler = (batch: Batch, controls: BatchControls) => Promise<void>;

export interface ConsumerOptions {
  groupId: string;
  /** Start from the earliest offset when the group has none committed (default true). */
  fromBeginning?: boolean;
  maxBytesPerPartition?: number;
  maxWaitTimeMs?: number;
  sessionTimeoutMs?: number;
  /**
   * Batches of this many partitions handled at once (default 1). Partitions are keyed by
   * account, so concurrent batches never touch the same account.
   */
  partitionsConcurrently?: number;
}

export interface KafkaProducer {
  send(topic: string, messages: OutgoingMessage[]): Promise<void>;
  disconnect(): Promise<void>;
}

export interface KafkaConsumer {
  subscribe(topics: string[]): Promise<void>;
  /** Starts consuming; resolves once the consumer is running, not when it stops. */
  run(handler: BatchHandler): Promise<void>;
  disconnect(): Promise<void>;
}

export interface TopicSpec {
  topic: string;
  partitions: number;
  /** Topic-level settings, for example { "cleanup.policy": "compact" }. */
  config?: Record<string, string>;
}

export interface PartitionOffset {
  partition: number;
  offset: string;
}

export interface KafkaAdmin {
  /** Creates the topics that do not exist yet and waits until they have leaders. */
  createTopics(topics: TopicSpec[]): Promise<void>;
  deleteTopics(topics: string[]): Promise<void>;
  listTopics(): Promise<string[]>;
  /** The next offset to be written (the high watermark) of every partition. */
  endOffsets(topic: string): Promise<PartitionOffset[]>;
  /** The group's committed offsets for a topic; "-1" where nothing is committed. */
  committedOffsets(groupId: string, topic: string): Promise<PartitionOffset[]>;
  disconnect(): Promise<void>;
}

/** Records read so far of those a range read covers. */
export interface RangeProgress {
  read: bigint;
  total: bigint;
}

export interface RangeReadOptions {
  topic: string;
  /** Start at each partition's first record published at or after this (ms since the epoch). */
  fromMs: number;
  handler: (batch: Batch) => Promise<void>;
  onProgress?: (progress: RangeProgress) => void;
}

export interface KafkaClient {
  producer(): Promise<KafkaProducer>;
  consumer(options: ConsumerOptions): Promise<KafkaConsumer>;
  admin(): Promise<KafkaAdmin>;
  /**
   * Reads a topic from a time to its end offsets as of the start, in no group of the
   * rater's and committing nothing (`rerate`, SPEC §9).
   */
  readFromTime(options: RangeReadOptions): Promise<RangeProgress>;
}
