/**
 * A value quoted in an error message, cut to a short excerpt: messages travel as
 * dead-letter headers and log lines, and a quoted megabyte would make the dead letter
 * larger than Kafka accepts, blocking its partition.
 */
export function excerpt(text: string, max = 40): string {
  return JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
}
