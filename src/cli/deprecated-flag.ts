/**
 * A flag renamed under the one convention of docs/architecture.md ("Command-line
 * flags"): the old spelling keeps working, hidden from --help, with a warning on stderr.
 * Scripts and deployments that pass it are not broken by the rename.
 */
import { Option, type Command } from "commander";

export interface DeprecatedFlag {
  /** The old spelling and its argument, as commander takes it: "--max-wait-ms <ms>". */
  flags: string;
  /** The long name of the option that replaces it: "--max-wait-s". */
  replacement: string;
  /** Parses the old value into the replacement's unit (throws InvalidArgumentError). */
  parse: (value: string) => number;
}

export function deprecatedFlag(command: Command, old: DeprecatedFlag): Command {
  const replacement = command.options.find((o) => o.long === old.replacement);
  if (!replacement) throw new Error(`${command.name()} has no option ${old.replacement}`);
  const option = new Option(old.flags, `deprecated: use ${old.replacement}`).argParser(old.parse).hideHelp();
  command.addOption(option);
  return command.hook("preAction", (cmd) => {
    const value = cmd.getOptionValue(option.attributeName()) as number | undefined;
    if (value === undefined) return;
    if (cmd.getOptionValueSource(replacement.attributeName()) === "cli") {
      cmd.error(`${option.long} and ${old.replacement} set the same thing: give ${old.replacement} only`);
    }
    process.stderr.write(`ratestream: ${option.long} is deprecated; use ${old.replacement} ${value}\n`);
    cmd.setOptionValueWithSource(replacement.attributeName(), value, "cli");
  });
}
