import { describe, expect, it } from "vitest";
import { waitUntilServed } from "../../src/adapters/kafka/admin.js";

/** A broker that learns a new topic late, as a KRaft broker does from its metadata log. */
function learningBroker(unknownAnswers: number) {
  let asked = 0;
  return {
    asked: () => asked,
    fetchTopicOffsets(topic: string) {
      asked++;
      if (asked <= unknownAnswers) {
        const unknown = Object.assign(new Error("This server does not host this topic-partition"), {
          type: "UNKNOWN_TOPIC_OR_PARTITION",
          topic,
        });
        return Promise.reject(unknown);
      }
      return Promise.resolve([0, 1, 2].map((partition) => ({ partition, high: "0" })));
    },
  };
}

describe("topics just created", () => {
  it("are waited for while the broker says it does not host them yet", async () => {
    const broker = learningBroker(3);
    await waitUntilServed(broker, [{ topic: "t", partitions: 3 }]);
    expect(broker.asked()).toBe(4);
  });

  it("fail after the bound, naming the topic and its partitions", async () => {
    const broker = learningBroker(Number.MAX_SAFE_INTEGER);
    await expect(waitUntilServed(broker, [{ topic: "cdrs", partitions: 3 }], 250)).rejects.toThrow(
      "topic cdrs: the broker does not serve its 3 partitions after 250 ms",
    );
  });
});
