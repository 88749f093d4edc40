/**
 * The Kafka topics of SPEC §4 under an optional prefix (tests and demos isolate
 * themselves with one). The rater, the workers and the CLI all name topics from here.
 */
export interface Topics {
  cdrs: string;
  ratedCdrs: string;
  balanceEvents: string;
  deadLetters: string;
}

/** Every topic the rater writes or reads, for creating or deleting them together. */
export function allTopics(topics: Topics): string[] {
  return [topics.cdrs, topics.ratedCdrs, topics.balanceEvents, topics.deadLetters];
}

export function topicNames(prefix = ""): Topics {
  return {
    cdrs: `${prefix}cdrs`,
    ratedCdrs: `${prefix}rated-cdrs`,
    balanceEvents: `${prefix}balance-events`,
    deadLetters: `${prefix}cdrs.dlq`,
  };
}
